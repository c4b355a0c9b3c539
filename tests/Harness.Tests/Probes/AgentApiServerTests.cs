using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Harness.Images;
using Harness.Probes;
using Harness.Protocol;
using Harness.Vehicles;
using Harness.Verdicts;

namespace Harness.Tests.Probes;

/// <summary>
/// Issue #11, item 1, reproduced: a real cluster without cluster DNS made every in-pod API probe Inconclusive
/// (<c>NameResolutionError ... kubernetes.default.svc:443</c>). The agent runs here as a process with the environment a
/// kubelet gives a container, against a TLS API server on loopback that answers as the real one did; this machine has
/// no DNS for <c>kubernetes.default.svc</c>, so only the injected address can reach it.
/// </summary>
public sealed class AgentApiServerTests(Harness.Tests.Docker.DockerFixture docker) : IDisposable
{
    private const string Token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Z3JlZXRlci1zeXN0ZW06Z3JlZXRlci1vcGVyYXRvciJ9.c2lnbmF0dXJl";
    private readonly string dir = Directory.CreateTempSubdirectory("harness-agent-api-").FullName;

    private readonly SinkCertificate certificate = SinkCertificate.Create(["kubernetes.default.svc", "kubernetes.default.svc.cluster.local"], []);

    private FakeTlsApiServer Server => server ??= Start();

    private FakeTlsApiServer? server;

    private FakeTlsApiServer Start()
    {
        File.WriteAllText(Path.Combine(dir, "token"), Token);
        File.WriteAllText(Path.Combine(dir, "ca.crt"), certificate.CaPem);
        File.WriteAllText(Path.Combine(dir, "namespace"), "greeter-system");
        return new FakeTlsApiServer(certificate, Answer);
    }

    /// <summary>The API server's answers, as the real one gave them for the hardened sample.</summary>
    private static (int, string) Answer(string method, string path) => (method, path.Split('?')[0]) switch
    {
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") =>
            (201, """{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"status":{"userInfo":{"username":"system:serviceaccount:greeter-system:greeter-operator","uid":"5d1c","groups":["system:serviceaccounts","system:serviceaccounts:greeter-system","system:authenticated"]}}}"""),
        ("GET", "/api/v1/namespaces/greeter-system/secrets") =>
            (403, """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets is forbidden: User \"system:serviceaccount:greeter-system:greeter-operator\" cannot list resource \"secrets\" in API group \"\" in the namespace \"greeter-system\"","reason":"Forbidden","details":{"kind":"secrets"},"code":403}"""),
        ("GET", "/api/v1/secrets") =>
            (403, """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"secrets is forbidden: User \"system:serviceaccount:greeter-system:greeter-operator\" cannot list resource \"secrets\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"secrets"},"code":403}"""),
        ("POST", "/api/v1/namespaces/greeter-system/pods") =>
            (403, """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"harness-privileged-x7k2q\" is forbidden: violates PodSecurity \"restricted:latest\": host namespaces (hostPID=true), privileged (container \"p\" must not set securityContext.privileged=true)","reason":"Forbidden","details":{"name":"harness-privileged-x7k2q","kind":"pods"},"code":403}"""),
        ("POST", "/api/v1/namespaces/kube-system/pods") =>
            (403, """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:greeter-system:greeter-operator\" cannot create resource \"pods\" in API group \"\" in the namespace \"kube-system\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}"""),
        _ => (404, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"""),
    };

    private ProbePlan Plan() =>
        StandardProbes.Create(new StandardProbeOptions { IncludeKubernetesApi = true, ReadOnlyPaths = [], ProbeServiceAccountDirectory = false })
            .Where(p => p.Id.StartsWith("api.", StringComparison.Ordinal));

    private async Task<(IReadOnlyList<ProbeResult> Results, string Stdout)> RunAgentAsync(ProbePlan plan, IDictionary<string, string?> environment)
    {
        var agent = ProbeArtifacts.Locate().AgentPath;
        var access = new KubernetesAccess { TokenPath = Path.Combine(dir, "token"), CaPath = Path.Combine(dir, "ca.crt"), NamespacePath = Path.Combine(dir, "namespace") };
        var json = JsonSerializer.Serialize(plan.TargetPlan(access), ProtocolJsonContext.Default.AgentPlan);
        var start = new ProcessStartInfo(agent) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("run");
        start.ArgumentList.Add("--plan-b64");
        start.ArgumentList.Add(Convert.ToBase64String(Encoding.UTF8.GetBytes(json)));
        start.Environment.Remove("KUBERNETES_SERVICE_HOST");
        start.Environment.Remove("KUBERNETES_SERVICE_PORT");
        foreach (var (k, v) in environment)
        {
            start.Environment[k] = v;
        }
        using var process = Process.Start(start)!;
        var stdout = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        process.ExitCode.Should().Be(0, await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
        var report = JsonSerializer.Deserialize(stdout, ProtocolJsonContext.Default.AgentReport)!;
        var results = Classifier.Classify(plan, report, null);
        foreach (var r in results)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{r.Probe.Id,-24} {r.Status,-12} {r.Verdict} | {r.Evidence.Attempt} | {r.Evidence.Data.GetValueOrDefault(DataKeys.ApiServer)}");
        }
        return (results, stdout);
    }

    [Fact]
    public async Task KubernetesServiceHostInjected_NoClusterDns_GivesRealRbacAndPodSecurityVerdicts()
    {
        ProbeArtifactsOrSkip();
        // Given the kubelet's injected address and no DNS for kubernetes.default.svc
        var (results, stdout) = await RunAgentAsync(Plan(), new Dictionary<string, string?>
        {
            ["KUBERNETES_SERVICE_HOST"] = "127.0.0.1",
            ["KUBERNETES_SERVICE_PORT"] = Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        // Then every API probe reaches the API server and gets its real verdict
        results.Single(r => r.Probe.Id == "api.self").Status.Should().Be(ProbeStatus.Passed);
        results.Single(r => r.Probe.Id == "api.secrets.namespace").Verdict.Should().Be(Verdict.Denied(Mechanism.RbacForbidden));
        results.Single(r => r.Probe.Id == "api.secrets.cluster").Status.Should().Be(ProbeStatus.Passed);
        results.Single(r => r.Probe.Id == "api.pod.privileged").Verdict.Should().Be(Verdict.Denied(Mechanism.PodSecurityRejected));
        results.Single(r => r.Probe.Id == "api.pod.other-namespace").Verdict.Should().Be(Verdict.Denied(Mechanism.RbacForbidden));
        CheckOutcome.Of(HardeningCheck.SecretsNotReadable, results).Status.Should().Be(ProbeStatus.Passed);
        // and the evidence says which address was used and how the certificate was checked
        results.Should().OnlyContain(r => r.Evidence.Data[DataKeys.ApiServer] == $"127.0.0.1:{Server.Port} from KUBERNETES_SERVICE_HOST/PORT, certificate checked for kubernetes.default.svc");
        Server.Requests.Should().Contain(r => r.Authorization == "Bearer " + Token, "the pod's own token is sent");
        Server.Requests.Should().OnlyContain(r => r.Sni == "kubernetes.default.svc", "TLS asks for the service name, not the address");
        stdout.Should().NotContain(Token, "the token never reaches the report");
    }

    [Fact]
    public async Task NoInjectedAddress_NoClusterDns_IsInconclusiveAndSaysDnsWasTried()
    {
        // The behaviour the real cluster showed, kept for a pod without the injected variables. In a container with no
        // network and a resolver on its own loopback, so the name lookup leaves nothing.
        var (host, image) = docker.Require();
        await using var pod = await DockerVehicle.StartAsync(host, new ContainerRunSpec { Image = image }, "docker:no-dns", TestContext.Current.CancellationToken);
        // A one-line file of the image stands in for the token (and the CA is never used): the request never gets past name resolution.
        var access = new KubernetesAccess { TokenPath = "/etc/nsswitch.conf", CaPath = "/nonexistent", NamespacePath = "/nonexistent" };
        var plan = Plan();

        var report = await pod.RunAsync(plan.TargetPlan(access), TestContext.Current.CancellationToken);
        var results = Classifier.Classify(plan, report, null);

        results.Should().OnlyContain(r => r.Status == ProbeStatus.Inconclusive);
        results.Single(r => r.Probe.Id == "api.self").Explanation.Should().Contain("cannot reach the API server at kubernetes.default.svc:443 through DNS (KUBERNETES_SERVICE_HOST not set)");
        results.Single(r => r.Probe.Id == "api.self").Evidence.Data[DataKeys.ApiServer].Should().Be("kubernetes.default.svc:443 through DNS (KUBERNETES_SERVICE_HOST not set)");
    }

    [Fact]
    public async Task InjectedAddressWithAnotherCertificate_IsInconclusiveNotADenial()
    {
        ProbeArtifactsOrSkip();
        // A man in the middle (or the wrong CA): the TLS check must refuse it, and a refusal is not an RBAC verdict.
        _ = Server.Port;
        File.WriteAllText(Path.Combine(dir, "ca.crt"), SinkCertificate.Create(["kubernetes.default.svc"], []).CaPem);

        var (results, _) = await RunAgentAsync(Plan(), new Dictionary<string, string?>
        {
            ["KUBERNETES_SERVICE_HOST"] = "127.0.0.1",
            ["KUBERNETES_SERVICE_PORT"] = Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        results.Should().OnlyContain(r => r.Status == ProbeStatus.Inconclusive);
        Server.Requests.Should().BeEmpty("no request is sent over an unverified connection");
    }

    private static void ProbeArtifactsOrSkip()
    {
        try
        {
            _ = ProbeArtifacts.Locate();
        }
        catch (FileNotFoundException e) when (!Harness.Tests.Docker.DockerFixture.Required)
        {
            Assert.Skip($"the probe agent is not built: {e.Message}");
        }
    }

    public void Dispose()
    {
        server?.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>An HTTPS server on 127.0.0.1 that records the SNI name, method, path and Authorization header of every request.</summary>
    private sealed class FakeTlsApiServer : IDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly X509Certificate2 certificate;
        private readonly Func<string, string, (int, string)> answer;
        private readonly CancellationTokenSource stop = new();

        public FakeTlsApiServer(SinkCertificate pem, Func<string, string, (int, string)> answer)
        {
            // Export and re-import: SslStream on Linux wants a certificate whose key it can use as a persisted one.
            using var ephemeral = X509Certificate2.CreateFromPem(pem.CertificatePem, pem.KeyPem);
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
            this.answer = answer;
            listener.Start();
            _ = Task.Run(LoopAsync);
        }

        public sealed record Seen(string? Sni, string Method, string Path, string? Authorization);

        public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

        public ConcurrentQueue<Seen> Requests { get; } = new();

        private async Task LoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await listener.AcceptTcpClientAsync(stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                _ = Task.Run(() => ServeAsync(client));
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    await using var tls = new SslStream(client.GetStream());
                    string? sni = null;
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificateSelectionCallback = (_, name) =>
                        {
                            sni = name;
                            return certificate;
                        },
                    }, stop.Token);
                    var reader = new StreamReader(tls, Encoding.ASCII, leaveOpen: true);
                    var requestLine = await reader.ReadLineAsync(stop.Token) ?? "";
                    string? authorization = null;
                    var length = 0;
                    for (var line = await reader.ReadLineAsync(stop.Token); !string.IsNullOrEmpty(line); line = await reader.ReadLineAsync(stop.Token))
                    {
                        var colon = line.IndexOf(':', StringComparison.Ordinal);
                        var (name, value) = (line[..colon].Trim(), line[(colon + 1)..].Trim());
                        if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
                        {
                            authorization = value;
                        }
                        else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                        {
                            length = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                        }
                    }
                    var body = new char[length];
                    if (length > 0)
                    {
                        await reader.ReadBlockAsync(body, stop.Token);
                    }
                    var parts = requestLine.Split(' ');
                    Requests.Enqueue(new Seen(sni, parts[0], parts[1], authorization));
                    var (status, json) = answer(parts[0], parts[1]);
                    var bytes = Encoding.UTF8.GetBytes(json);
                    var head = $"HTTP/1.1 {status} {(status < 300 ? "OK" : "Error")}\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                    await tls.WriteAsync(Encoding.ASCII.GetBytes(head), stop.Token);
                    await tls.WriteAsync(bytes, stop.Token);
                    await tls.FlushAsync(stop.Token);
                }
                catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
                {
                    // The client refused the certificate or went away: nothing to answer.
                }
            }
        }

        public void Dispose()
        {
            stop.Cancel();
            listener.Stop();
            certificate.Dispose();
            stop.Dispose();
        }
    }
}
