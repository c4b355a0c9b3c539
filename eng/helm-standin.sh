#!/bin/sh
# A stand-in for `helm template`, for machines without helm (helm cannot be installed where the tests run; the e2e
# workflow uses the real one). It renders charts written in a small subset of the template language, such as the
# sample's (fixtures/sample-operator/chart): {{ .Release.Name }}, {{ .Release.Namespace }} and {{ .Values.KEY }} for
# top-level scalar values; anything else in a template is an error, never passed through. Like helm it takes
#   template NAME CHART [--include-crds] [--namespace NS] [--values FILE]... [--set KEY=VALUE[,KEY=VALUE]]...
# and prints each template after `---` and a `# Source: CHART-NAME/templates/FILE` comment.
# Use: HARNESS_HELM=eng/helm-standin.sh harness preflight fixtures/sample-operator/chart
set -eu
fail() { echo "Error: $*" >&2; exit 1; }
[ "${1:-}" = template ] || fail "helm-standin renders only: template NAME CHART [--namespace NS] [--values FILE]... [--set K=V]..."
[ $# -ge 3 ] || fail "\"helm template\" requires a release name and a chart"
release=$2 chart=$3
shift 3
[ -f "$chart/Chart.yaml" ] || fail "$chart: Chart.yaml file is missing"
values=$(mktemp)
trap 'rm -f "$values"' EXIT
# KEY=VALUE lines, later ones win: values.yaml, then each --values file, then each --set.
scalars() { # file: its top-level "key: value" lines, comments and quotes removed
  sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\):[[:space:]]*\([^#]*[^#[:space:]]\)[[:space:]]*\(#.*\)\{0,1\}$/\1=\2/p' "$1" | sed "s/=[\"']\(.*\)[\"']\$/=\1/"
}
[ -f "$chart/values.yaml" ] && scalars "$chart/values.yaml" >> "$values"
namespace=default
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace|-n) [ $# -ge 2 ] || fail "flag needs an argument: $1"; namespace=$2; shift 2 ;;
    --values|-f) [ $# -ge 2 ] || fail "flag needs an argument: $1"; [ -f "$2" ] || fail "open $2: no such file or directory"; scalars "$2" >> "$values"; shift 2 ;;
    --set) [ $# -ge 2 ] || fail "flag needs an argument: $1"
      echo "$2" | tr ',' '\n' | while IFS= read -r pair; do
        case "$pair" in *.*=*) fail "helm-standin sets top-level values only, not $pair" ;; *=*) echo "$pair" ;; *) fail "failed parsing --set data: key \"$pair\" has no value" ;; esac
      done >> "$values"
      shift 2 ;;
    --include-crds) include_crds=1; shift ;;
    *) fail "unknown flag: $1" ;;
  esac
done
name=$(sed -n 's/^name:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$chart/Chart.yaml" | head -n 1)
# Like helm, crds/ first and as they are (never templated), with --include-crds.
if [ "${include_crds:-}" = 1 ]; then
  for crd in "$chart"/crds/*.yaml "$chart"/crds/*.yml; do
    [ -f "$crd" ] || continue
    printf -- '---\n# Source: %s/crds/%s\n' "$name" "${crd##*/}"
    cat "$crd"
    printf '\n'
  done
fi
for template in "$chart"/templates/*.yaml "$chart"/templates/*.yml; do
  [ -f "$template" ] || continue
  file=${template##*/}
  printf -- '---\n# Source: %s/templates/%s\n' "$name" "$file"
  awk -v values="$values" -v release="$release" -v namespace="$namespace" -v source="$name/templates/$file" '
    BEGIN { while ((getline line < values) > 0) { at = index(line, "="); v[substr(line, 1, at - 1)] = substr(line, at + 1) } }
    {
      out = ""
      while (match($0, /\{\{[^}]*\}\}/)) {
        expr = substr($0, RSTART + 2, RLENGTH - 4); gsub(/^[ -]+|[ -]+$/, "", expr)
        if (expr == ".Release.Name") value = release
        else if (expr == ".Release.Namespace") value = namespace
        else if (expr ~ /^\.Values\.[A-Za-z_][A-Za-z0-9_]*$/) {
          key = substr(expr, 9)
          if (!(key in v)) { printf "Error: template: %s:%d: .Values.%s is not set\n", source, NR, key > "/dev/stderr"; exit 1 }
          value = v[key]
        }
        else { printf "Error: template: %s:%d: helm-standin does not render {{ %s }}; install helm\n", source, NR, expr > "/dev/stderr"; exit 1 }
        out = out substr($0, 1, RSTART - 1) value
        $0 = substr($0, RSTART + RLENGTH)
      }
      if (index($0, "{{") > 0) { printf "Error: template: %s:%d: unclosed action\n", source, NR > "/dev/stderr"; exit 1 }
      print out $0
    }' "$template"
done
