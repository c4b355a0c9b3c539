using Harness.Clusters;
using Harness.Waits;
using Xunit.Sdk;
using Xunit.v3;

namespace Harness.Scenarios;

/// <summary>
/// The cluster the live scenarios run against, started once for the assembly through the harness's own providers:
/// HARNESS_CLUSTER=kind|k3s creates a verified cluster; HARNESS_KUBECONFIG (and HARNESS_CONTEXT) use an existing one.
/// A missing prerequisite skips every live test with its one-line reason (a failure instead with
/// HARNESS_REQUIRE_CLUSTER=1); a cluster that fails verification fails them.
/// </summary>
public sealed class LiveCluster(IMessageSink messages) : IAsyncLifetime
{
    public HarnessCluster? Cluster { get; private set; }

    public ClusterOptions? Options { get; private set; }

    /// <summary>Why there is no cluster (a skip).</summary>
    public string? Unavailable { get; private set; }

    /// <summary>Why the cluster cannot be trusted (a failure).</summary>
    public string? Failure { get; private set; }

    public static bool Required => Environment.GetEnvironmentVariable("HARNESS_REQUIRE_CLUSTER") == "1";

    public async ValueTask InitializeAsync()
    {
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        if (Env("HARNESS_CLUSTER") is null && Env("HARNESS_KUBECONFIG") is null && Env("HARNESS_CONTEXT") is null)
        {
            Unavailable = "no cluster: set HARNESS_CLUSTER=kind to create a verified kind cluster (needs Docker, and kind on PATH or internet), or HARNESS_KUBECONFIG=path for an existing one";
            return;
        }
        try
        {
            var options = ClusterOptions.FromEnvironment();
            if (options.Provider == ClusterProvider.Existing && options.ProbeImage is null)
            {
                // PodSecurity scenarios still run; the ones that need the probe agent in the cluster skip and say why.
                options = options with { Verify = false };
            }
            Options = options;
            using var log = new SinkWriter(messages);
            Cluster = await HarnessCluster.StartAsync(options, log, TestContext.Current.CancellationToken);
        }
        catch (PrerequisiteException e)
        {
            Unavailable = $"no cluster: {e.Message}";
        }
        catch (Exception e) when (e is ClusterVerificationException or WaitTimeoutException or TimeoutException or ArgumentException or Harness.Processes.CommandFailedException)
        {
            Failure = $"the cluster cannot be used: {e.Message}";
        }
    }

    public HarnessCluster Require()
    {
        if (Failure is not null)
        {
            throw new InvalidOperationException(Failure);
        }
        if (Cluster is null)
        {
            if (Required)
            {
                throw new InvalidOperationException($"HARNESS_REQUIRE_CLUSTER=1 but {Unavailable}");
            }
            Assert.Skip(Unavailable ?? "no cluster");
        }
        return Cluster;
    }

    public async ValueTask DisposeAsync()
    {
        if (Cluster is not null)
        {
            if (Environment.GetEnvironmentVariable("HARNESS_EXPORT_LOGS") == "1")
            {
                Cluster.MarkFailed(); // exports the logs; the cluster is still removed unless asked to keep it
            }
            await Cluster.DisposeAsync();
        }
    }

    /// <summary>Progress lines from the providers into the test run's diagnostic messages.</summary>
    private sealed class SinkWriter(IMessageSink sink) : StringWriter
    {
        public override void WriteLine(string? value) => sink.OnMessage(new DiagnosticMessage("[cluster] {0}", value));

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }
    }
}
