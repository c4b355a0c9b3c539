namespace Harness.Vehicles;

/// <summary>The result of a raw exec in a container or a pod (Docker or Kubernetes exec).</summary>
/// <param name="ExitCode">The process's exit code.</param>
/// <param name="Stdout">Standard output.</param>
/// <param name="Stderr">Standard error.</param>
internal readonly record struct ExecResult(long ExitCode, string Stdout, string Stderr);
