using Harness.Clusters;
using Harness.Processes;
using Harness.Waits;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

namespace Harness.Xunit;

/// <summary>
/// The cluster for a test assembly (<c>[assembly: AssemblyFixture(typeof(HarnessClusterFixture))]</c>), started once
/// through the harness's providers from the environment: HARNESS_CLUSTER=kind|k3s creates a verified cluster;
/// HARNESS_KUBECONFIG (and HARNESS_CONTEXT) use an existing one, with HARNESS_PROBE_IMAGE or HARNESS_IMAGE_LOADER for the
/// probe image. A missing prerequisite skips the live tests with its
/// one-line reason (a failure instead with HARNESS_REQUIRE_CLUSTER=1); a cluster that fails verification fails them.
/// </summary>
public class HarnessClusterFixture(IMessageSink messages) : IAsyncLifetime
{
    /// <summary>The cluster, once started.</summary>
    public HarnessCluster? Cluster { get; private set; }

    /// <summary>The options it was started with.</summary>
    public ClusterOptions? Options { get; private set; }

    /// <summary>Why there is no cluster (a skip).</summary>
    public string? Unavailable { get; private set; }

    /// <summary>Why the cluster cannot be trusted (a failure).</summary>
    public string? Failure { get; private set; }

    /// <summary>HARNESS_REQUIRE_CLUSTER=1: no cluster is a failure, not a skip.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("HARNESS_REQUIRE_CLUSTER") == "1";

    /// <summary>The options to start from; override to build them in code instead of from the environment.</summary>
    protected virtual ClusterOptions? CreateOptions()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        if (Env("HARNESS_CLUSTER") is null && Env("HARNESS_KUBECONFIG") is null && Env("HARNESS_CONTEXT") is null)
        {
            return null;
        }
        var options = ClusterOptions.FromEnvironment();
        // Without a probe image it can pull or a loader to put one there, an existing cluster runs only the API-level scenarios.
        return options.Provider == ClusterProvider.Existing && options.ProbeImage is null && options.ImageLoader is null ? options with { Verify = false } : options;
    }

    /// <inheritdoc/>
    public async ValueTask InitializeAsync()
    {
        try
        {
            Options = CreateOptions();
            if (Options is null)
            {
                Unavailable = "no cluster: set HARNESS_CLUSTER=kind to create a verified kind cluster (needs Docker, and kind on PATH or internet), or HARNESS_KUBECONFIG=path for an existing one";
                return;
            }
            using var log = new MessageSinkWriter(messages, "cluster");
            Cluster = await HarnessCluster.StartAsync(Options, log, TestContext.Current.CancellationToken).ConfigureAwait(false);
        }
        catch (PrerequisiteException e)
        {
            Unavailable = $"no cluster: {e.Message}";
        }
        catch (Exception e) when (e is ClusterVerificationException or WaitTimeoutException or TimeoutException or ArgumentException or CommandFailedException)
        {
            Failure = $"the cluster cannot be used: {e.Message}";
        }
    }

    /// <summary>The cluster; skips (or fails) the calling test with the reason when there is none.</summary>
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

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Cluster is not null)
        {
            if (Environment.GetEnvironmentVariable("HARNESS_EXPORT_LOGS") == "1")
            {
                Cluster.MarkFailed(); // exports the logs; the cluster is still removed unless asked to keep it
            }
            await Cluster.DisposeAsync().ConfigureAwait(false);
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>Progress lines into the test run's diagnostic messages.</summary>
internal sealed class MessageSinkWriter(IMessageSink sink, string prefix) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
{
    public override void WriteLine(string? value) => sink.OnMessage(new DiagnosticMessage("[{0}] {1}", prefix, value));

    public override Task WriteLineAsync(string? value)
    {
        WriteLine(value);
        return Task.CompletedTask;
    }
}
