using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Harness.Protocol;

namespace Harness.ProbeAgent;

/// <summary>The attempts themselves. Each returns what it observed; none throws for an expected denial.</summary>
internal static class Steps
{
    public const string DefaultHelper = "/probe/bin/kprobe";

    public static Task<Observation> RunAsync(AgentStep step, StepContext context, StepProgress progress, CancellationToken ct) => step.Kind switch
    {
        StepKinds.FileWrite => Task.FromResult(FileWrite(context.Target.MapPath(Require(step)))),
        StepKinds.ProcessStatus => Task.FromResult(ProcessStatus(context.Target.StatusPath)),
        StepKinds.Kernel => KernelAsync(step, progress, ct),
        StepKinds.Dns => DnsAsync(Require(step), progress, ct),
        StepKinds.Tcp => TcpAsync(Require(step), progress, ct),
        StepKinds.Http => HttpAsync(step, progress, ct),
        StepKinds.KubernetesRequest => KubernetesClientStep.RunAsync(step, context.Kubernetes ?? new KubernetesAccess(), progress, ct),
        StepKinds.TokenClaims => Task.FromResult(TokenClaims(context.Target.MapPath(Require(step)), Arg(step, "mode") == "exists")),
        _ => throw new StepArgumentException($"unknown step kind '{step.Kind}'"),
    };

    private static string Require(AgentStep step) =>
        string.IsNullOrWhiteSpace(step.Target) ? throw new StepArgumentException($"step '{step.Id}' ({step.Kind}) needs a target") : step.Target;

    private static string? Arg(AgentStep step, string name) =>
        step.Args is not null && step.Args.TryGetValue(name, out var value) ? value : null;

    // ---- filesystem -------------------------------------------------------------------------------------------

    internal static unsafe Observation FileWrite(string directory)
    {
        var file = Path.Combine(directory, $".harness-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var data = new Dictionary<string, string> { ["file"] = file };
        var fd = Native.Open(file, Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_CLOEXEC, 0x180 /* 0600 */);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            data["stage"] = "open";
            if (errno is 13 or 1)
            {
                // A permission refusal says nothing of the mount by itself: the mount's own flag does.
                var (flags, statErrno) = Native.MountFlags(directory);
                data[DataKeys.Mount] = statErrno != 0 ? $"unknown: {Native.ErrnoName(statErrno)}" : (flags & Native.ST_RDONLY) != 0 ? "read-only" : "writable";
            }
            return Failed(errno, $"open({file}, O_CREAT|O_EXCL|O_WRONLY)", data);
        }
        try
        {
            var payload = "harness probe\n"u8;
            fixed (byte* p = payload)
            {
                if (Native.Write(fd, p, payload.Length) < 0)
                {
                    data["stage"] = "write";
                    return Failed(Marshal.GetLastPInvokeError(), $"write({file})", data);
                }
            }
            if (Native.Fsync(fd) < 0)
            {
                data["stage"] = "fsync";
                return Failed(Marshal.GetLastPInvokeError(), $"fsync({file})", data);
            }
        }
        finally
        {
            Native.Close(fd);
            Native.Unlink(file);
        }
        return Observation.Succeeded($"created, wrote and removed {file}", data);
    }

    private static Observation Failed(int errno, string call, IReadOnlyDictionary<string, string>? data = null)
    {
        var name = Native.ErrnoName(errno);
        return Observation.Failed(name, $"{call}: {name} ({errno})", data);
    }

    // ---- ServiceAccount token -----------------------------------------------------------------------------------

    /// <summary>The token's claims, never the token: the detail and data name the file and the claims only.</summary>
    internal static Observation TokenClaims(string path, bool existsOnly)
    {
        string text;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
            using var reader = new StreamReader(stream);
            var buffer = new char[65536];
            text = new string(buffer, 0, reader.ReadBlock(buffer, 0, buffer.Length));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Observation.Failed("ENOENT", $"open({path}): ENOENT");
        }
        catch (UnauthorizedAccessException)
        {
            return Observation.Failed("EACCES", $"open({path}): EACCES");
        }
        catch (IOException ex)
        {
            return Observation.Error($"cannot read {path}: {ex.Message}");
        }
        if (existsOnly)
        {
            return Observation.Succeeded($"read {path}");
        }
        var claims = JwtClaims.Read(text);
        return claims is null
            ? Observation.Error($"{path} is not a JWT (its content is not reported)")
            : Observation.Succeeded($"read the claims of {path} (the token itself is not reported)", claims);
    }

    // ---- process ----------------------------------------------------------------------------------------------

    private static readonly string[] StatusFields =
        ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"];

    internal static Observation ProcessStatus(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Observation.Error($"cannot read {path}: {ex.Message}");
        }
        var data = ParseStatus(text);
        var missing = StatusFields.Where(f => !data.ContainsKey(f)).ToArray();
        return missing.Length == 0
            ? Observation.Succeeded($"read {path}", data)
            : Observation.Error($"{path} lacks {string.Join(", ", missing)}");
    }

    internal static Dictionary<string, string> ParseStatus(string text)
    {
        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }
            var key = line[..colon];
            if (StatusFields.Contains(key))
            {
                // Uid/Gid hold "real effective saved fs"; keep them space-separated.
                data[key] = string.Join(' ', line[(colon + 1)..].Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries));
            }
        }
        return data;
    }

    // ---- kernel (through the single-threaded helper) ---------------------------------------------------------

    private static async Task<Observation> KernelAsync(AgentStep step, StepProgress progress, CancellationToken ct)
    {
        progress.Enter("exec");
        var helper = Arg(step, "helper") ?? DefaultHelper;
        var argv = Arg(step, "argv") ?? throw new StepArgumentException($"step '{step.Id}' (kernel) needs Args.argv");
        if (!File.Exists(helper))
        {
            return Observation.Error($"kernel helper {helper} does not exist in this container");
        }
        if (Arg(step, "expectSetuid") == "true" && File.GetUnixFileMode(helper) is var mode && (mode & UnixFileMode.SetUser) == 0)
        {
            // Without the bit the helper could never escalate, and "denied" would prove nothing.
            return Observation.Error($"{helper} is not setuid (mode {Convert.ToString((int)mode, 8)}): the escalation attempt would prove nothing");
        }
        var start = new ProcessStartInfo(helper)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in argv.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            start.ArgumentList.Add(a);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            // exec itself refused (EACCES on a noexec mount, ENOENT for a missing loader...): not the attempt.
            return Observation.Error($"cannot exec {helper}: {Native.ErrnoName(ex.NativeErrorCode)} ({ex.Message})");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            var line = (await stdout.ConfigureAwait(false)).Trim();
            var err = (await stderr.ConfigureAwait(false)).Trim();
            return ParseHelperLine(helper, argv, process.ExitCode, line, err);
        }
    }

    internal static Observation ParseHelperLine(string helper, string argv, int exitCode, string line, string stderr)
    {
        var call = $"{Path.GetFileName(helper)} {argv}";
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (exitCode == 0 && parts.Length >= 1 && parts[0] == "ok")
        {
            var data = parts.Skip(1)
                .Select(p => p.Split('=', 2))
                .Where(kv => kv.Length == 2)
                .ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);
            return Observation.Succeeded($"{call}: {line}", data);
        }
        if (exitCode == 0 && parts.Length >= 3 && parts[0] == "err")
        {
            return Observation.Failed(parts[1], $"{call}: {parts[1]} ({parts[2]})");
        }
        return Observation.Error($"{call}: exit {exitCode}, unexpected output '{line}' {stderr}".Trim());
    }

    // ---- network ----------------------------------------------------------------------------------------------

    private static async Task<Observation> DnsAsync(string host, StepProgress progress, CancellationToken ct)
    {
        var resolved = await ResolveAsync(host, progress, ct).ConfigureAwait(false);
        var data = progress.Snapshot();
        return resolved.Failure ?? Observation.Succeeded($"{host} resolved to {data.GetValueOrDefault("addresses", resolved.Address!.ToString())}", data);
    }

    private static Observation DnsFailure(string host, SocketException ex, StepProgress progress)
    {
        var code = ex.SocketErrorCode switch
        {
            SocketError.HostNotFound => "EAI_NONAME",
            SocketError.NoData => "EAI_NODATA",
            SocketError.TryAgain => "EAI_AGAIN",
            SocketError.NoRecovery => "EAI_FAIL",
            _ => "EAI_" + ex.SocketErrorCode,
        };
        progress.Set("host", host);
        return Observation.Failed(code, $"resolve {host}: {code} ({ex.Message})", progress.Snapshot());
    }

    private static async Task<Observation> TcpAsync(string target, StepProgress progress, CancellationToken ct)
    {
        var (host, port) = SplitHostPort(target);
        var resolved = await ResolveAsync(host, progress, ct).ConfigureAwait(false);
        if (resolved.Failure is not null)
        {
            return resolved.Failure;
        }
        var address = resolved.Address!;
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        var failure = await ConnectAsync(socket, new IPEndPoint(address, port), progress, ct).ConfigureAwait(false);
        return failure ?? Observation.Succeeded($"connected to {address}:{port}", progress.Snapshot());
    }

    /// <summary>Resolves <paramref name="host"/> (an IP literal skips DNS), recording the stage and the address.</summary>
    private static async Task<(IPAddress? Address, Observation? Failure)> ResolveAsync(string host, StepProgress progress, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            progress.Set("address", literal.ToString());
            return (literal, null);
        }
        progress.Enter("dns");
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                return (null, Observation.Failed("EAI_NODATA", $"resolve {host}: no addresses", progress.Snapshot()));
            }
            progress.Set("addresses", string.Join(',', addresses.Select(a => a.ToString())));
            progress.Set("address", addresses[0].ToString());
            return (addresses[0], null);
        }
        catch (SocketException ex)
        {
            return (null, DnsFailure(host, ex, progress));
        }
    }

    /// <summary>Connects, recording the stage; returns null on success or the failure observation.</summary>
    private static async Task<Observation?> ConnectAsync(Socket socket, IPEndPoint endpoint, StepProgress progress, CancellationToken ct)
    {
        progress.Enter("connect");
        try
        {
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return Observation.TimedOut($"connect to {endpoint}: no answer (packets dropped?)", progress.Snapshot());
        }
        catch (SocketException ex)
        {
            var name = SocketErrno(ex);
            return Observation.Failed(name, $"connect to {endpoint}: {name} ({ex.Message})", progress.Snapshot());
        }
    }

    internal static (string Host, int Port) SplitHostPort(string target)
    {
        var colon = target.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(target.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new StepArgumentException($"'{target}' is not host:port");
        }
        return (target[..colon].Trim('[', ']'), port);
    }

    private static string SocketErrno(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "ECONNREFUSED",
        SocketError.NetworkUnreachable => "ENETUNREACH",
        SocketError.HostUnreachable => "EHOSTUNREACH",
        SocketError.TimedOut => "ETIMEDOUT",
        SocketError.AccessDenied => Native.ErrnoName(ex.NativeErrorCode is > 0 and < 200 ? ex.NativeErrorCode : 13),
        SocketError.ConnectionReset => "ECONNRESET",
        _ => ex.NativeErrorCode is > 0 and < 200 ? Native.ErrnoName(ex.NativeErrorCode) : "E" + ex.SocketErrorCode,
    };

    private static async Task<Observation> HttpAsync(AgentStep step, StepProgress progress, CancellationToken ct)
    {
        var url = Require(step);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new StepArgumentException($"'{url}' is not an http(s) URL");
        }
        // Resolve and connect ourselves, so every failure and every timeout names its stage.
        // connectTo pins the address (like curl --resolve): the URL's name still drives SNI and certificate checks.
        var resolved = Arg(step, "connectTo") is { } pinned && IPAddress.TryParse(pinned, out var pinnedAddress)
            ? (Address: pinnedAddress, Failure: (Observation?)null)
            : await ResolveAsync(uri.Host, progress, ct).ConfigureAwait(false);
        if (resolved.Failure is not null)
        {
            return resolved.Failure;
        }
        Observation? connectFailure = null;
        using var handler = DirectHandler();
        handler.ConnectCallback = async (context, token) =>
        {
            var socket = new Socket(resolved.Address!.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            connectFailure = await ConnectAsync(socket, new IPEndPoint(resolved.Address, context.DnsEndPoint.Port), progress, token).ConfigureAwait(false);
            if (connectFailure is not null)
            {
                socket.Dispose();
                throw new HttpRequestException(HttpRequestError.ConnectionError, connectFailure.Detail);
            }
            progress.Enter(uri.Scheme == "https" ? "tls" : "http");
            return new NetworkStream(socket, ownsSocket: true);
        };
        if (Arg(step, "caPem") is { } caPem)
        {
            handler.SslOptions = TrustOnly(PemCertificates(caPem), progress);
        }
        else if (Arg(step, "caPath") is { } caPath)
        {
            handler.SslOptions = TrustOnly(PemCertificates(File.ReadAllText(caPath)));
        }
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            using var response = await client.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            progress.Enter("http");
            if (response.Headers.TryGetValues("X-Harness-Sink", out var sink))
            {
                progress.Set(DataKeys.SinkToken, sink.First());
            }
            return new Observation(StepOutcomes.Succeeded)
            {
                HttpStatus = (int)response.StatusCode,
                Detail = $"GET {uri} → {(int)response.StatusCode} {response.ReasonPhrase}",
                Data = progress.Snapshot(),
            };
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return connectFailure ?? Observation.TimedOut($"GET {uri}: no answer during {progress.Stage}", progress.Snapshot());
        }
        catch (HttpRequestException) when (connectFailure is not null)
        {
            return connectFailure;
        }
        catch (HttpRequestException ex)
        {
            if (ex.HttpRequestError == HttpRequestError.SecureConnectionError)
            {
                progress.Enter("tls");
                return Observation.Failed("TLS", $"GET {uri}: TLS handshake failed ({ex.InnerException?.Message ?? ex.Message})", progress.Snapshot());
            }
            var socket = ex.InnerException as SocketException;
            var errno = socket is not null ? SocketErrno(socket) : "E" + ex.HttpRequestError;
            return Observation.Failed(errno, $"GET {uri}: {errno} during {progress.Stage} ({ex.Message})", progress.Snapshot());
        }
    }

    /// <summary>An HTTP handler that talks only to the target: no proxy, no redirects, a new connection per request.</summary>
    internal static SocketsHttpHandler DirectHandler() =>
        new() { UseProxy = false, AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.Zero };

    /// <summary>The DNS and IP subject alternative names (the CN when there are none).</summary>
    internal static IEnumerable<string> CertificateNames(X509Certificate2 certificate)
    {
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        var names = san is null ? [] : san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(a => a.ToString())).ToList();
        return names.Count > 0 ? names : [certificate.GetNameInfo(X509NameType.SimpleName, false)];
    }

    internal static X509Certificate2Collection PemCertificates(string pem)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(pem);
        return roots;
    }

    /// <summary>
    /// TLS options that trust exactly these CAs (the cluster's, the harness's sink CA, a webhook's caBundle), not the
    /// system's. With <paramref name="progress"/>, what the server presented is recorded (names, validity, whether the
    /// name matched and the chain built, and why not), never the certificate itself.
    /// </summary>
    internal static SslClientAuthenticationOptions TrustOnly(X509Certificate2Collection roots, StepProgress? progress = null)
    {
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null)
                {
                    return false;
                }
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                var nameOk = (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
                using var presented = new X509Certificate2(certificate);
                var chainOk = chain.Build(presented);
                if (progress is not null)
                {
                    progress.Set(DataKeys.TlsNames, string.Join(",", CertificateNames(presented)));
                    progress.Set(DataKeys.TlsNotAfter, presented.NotAfter.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
                    progress.Set(DataKeys.TlsNameMatch, nameOk ? "yes" : "no");
                    progress.Set(DataKeys.TlsChain, chainOk ? "trusted" : string.Join(",", chain.ChainStatus.Select(c => c.Status.ToString()).Distinct()));
                }
                return nameOk && chainOk;
            },
            EnabledSslProtocols = SslProtocols.None,
        };
    }
}
