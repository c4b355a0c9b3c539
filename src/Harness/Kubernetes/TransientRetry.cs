using System.Net;
using System.Net.Sockets;
using Polly;
using Polly.Retry;

namespace Harness.Kubernetes;

/// <summary>
/// The one retry policy for every request the harness sends to an API server (a handler under KubernetesClient, which
/// retries nothing itself): what a real server says is transient is sent again, bounded in attempts and in time, each
/// attempt logged. Transient: 429 (e.g. <c>storage is (re)initializing</c> while a new CRD's watch cache starts, Kubernetes
/// 1.31 and later) after its <c>Retry-After</c>; 503; a 500 whose status names a lost etcd leader or an etcd timeout; a
/// connection reset or refused on a request that is safe to send twice (not a create). Anything else is the answer.
/// </summary>
internal sealed class TransientRetryHandler : DelegatingHandler
{
    /// <summary>How many times a request is sent at most.</summary>
    public const int MaxAttempts = 8;

    /// <summary>How long the retries of one request may take in all.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private readonly ResiliencePipeline<HttpResponseMessage> pipeline;
    private readonly TextWriter log;
    private readonly TimeProvider time;

    public TransientRetryHandler(TextWriter? log = null, TimeProvider? time = null, TimeSpan? baseDelay = null)
    {
        this.log = log ?? TextWriter.Null;
        this.time = time ?? TimeProvider.System;
        pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = this.time }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = MaxAttempts - 1,
                Delay = baseDelay ?? TimeSpan.FromMilliseconds(500),
                BackoffType = DelayBackoffType.Exponential,
                MaxDelay = TimeSpan.FromSeconds(10),
                UseJitter = baseDelay is null,
                ShouldHandle = async args => WithinBudget(args.Context) && args.Outcome switch
                {
                    { Exception: OperationCanceledException } => false,
                    { Exception: HttpRequestException e } => IsConnectionFault(e) && Resendable(args.Context),
                    { Result: { } response } => IsTransient(response.StatusCode, await ReasonAsync(response).ConfigureAwait(false)),
                    _ => false,
                },
                // The server's own Retry-After wins (429 and 503 carry it), capped like the backoff.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.Headers.RetryAfter?.Delta is { } after
                    ? (TimeSpan?)TimeSpan.FromTicks(Math.Min(after.Ticks, TimeSpan.FromSeconds(10).Ticks))
                    : null),
                OnRetry = async args =>
                {
                    var request = args.Context.Properties.GetValue(RequestKey, null!);
                    var why = args.Outcome.Result is { } r ? $"{(int)r.StatusCode} {await ReasonAsync(r).ConfigureAwait(false)}" : args.Outcome.Exception?.Message;
                    await this.log.WriteLineAsync(
                        $"api: {request?.Method} {request?.RequestUri?.AbsolutePath} answered {why}; attempt {args.AttemptNumber + 2} of {MaxAttempts} in {args.RetryDelay.TotalSeconds:0.0} s").ConfigureAwait(false);
                },
            })
            .Build();
    }

    private static readonly ResiliencePropertyKey<HttpRequestMessage> RequestKey = new("harness.request");
    private static readonly ResiliencePropertyKey<DateTimeOffset> StartedKey = new("harness.started");

    // The retries of one request stop once they have taken the budget (a slow answer itself is never cut short).
    private bool WithinBudget(ResilienceContext context) =>
        time.GetUtcNow() - context.Properties.GetValue(StartedKey, time.GetUtcNow()) < Budget;

    /// <summary>Whether an answer (its status and status message) is one a real server gives for a passing condition. Pure.</summary>
    internal static bool IsTransient(HttpStatusCode status, string? message) => status switch
    {
        HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable => true,
        HttpStatusCode.InternalServerError => message is { } text
            && (text.Contains("etcdserver: leader changed", StringComparison.Ordinal) || text.Contains("etcdserver: request timed out", StringComparison.Ordinal)),
        _ => false,
    };

    private static bool IsConnectionFault(HttpRequestException e) =>
        e.InnerException is IOException or SocketException || e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.ResponseEnded;

    // A create that the server took before the connection broke would be sent twice: only what is safe to repeat.
    private static bool Resendable(ResilienceContext context) =>
        context.Properties.GetValue(RequestKey, null!) is { } r && r.Method != HttpMethod.Post;

    /// <summary>The status message of an answer, read from its buffered body (a few hundred bytes), or its reason phrase.</summary>
    private static async Task<string?> ReasonAsync(HttpResponseMessage response)
    {
        if (!IsErrorWorthReading(response))
        {
            return response.ReasonPhrase;
        }
        try
        {
            var body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            return body.Length == 0 ? response.ReasonPhrase
                : k8s.KubernetesJson.Deserialize<k8s.Models.V1Status>(body)?.Message ?? response.ReasonPhrase;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or IOException or HttpRequestException)
        {
            return response.ReasonPhrase;
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri?.Query.Contains("watch=true", StringComparison.Ordinal) == true)
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false); // a stream: its client restarts it
        }
        // A request is sent once per attempt: its body is kept to build each copy.
        var body = request.Content is null ? null : await request.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(RequestKey, request);
        context.Properties.Set(StartedKey, time.GetUtcNow());
        try
        {
            var attempt = 0;
            return await pipeline.ExecuteAsync(
                async ctx =>
                {
                    var send = attempt++ == 0 ? WithBody(request, body) : Copy(request, body);
                    var response = await base.SendAsync(send, ctx.CancellationToken).ConfigureAwait(false);
                    if (IsErrorWorthReading(response))
                    {
                        await response.Content.LoadIntoBufferAsync(ctx.CancellationToken).ConfigureAwait(false);
                    }
                    return response;
                },
                context).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static bool IsErrorWorthReading(HttpResponseMessage response) => response.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable;

    // The first attempt is the request itself, with its body replaced by a re-readable copy.
    private static HttpRequestMessage WithBody(HttpRequestMessage request, byte[]? body)
    {
        request.Content = Body(request, body);
        return request;
    }

    private static HttpRequestMessage Copy(HttpRequestMessage request, byte[]? body)
    {
        var copy = new HttpRequestMessage(request.Method, request.RequestUri) { Version = request.Version, VersionPolicy = request.VersionPolicy, Content = Body(request, body) };
        foreach (var h in request.Headers)
        {
            copy.Headers.TryAddWithoutValidation(h.Key, h.Value);
        }
        foreach (var o in request.Options)
        {
            ((IDictionary<string, object?>)copy.Options)[o.Key] = o.Value;
        }
        return copy;
    }

    // The kept body as new content with the original's content headers (content type, for an apply patch).
    private static ByteArrayContent? Body(HttpRequestMessage request, byte[]? body)
    {
        if (body is null)
        {
            return null;
        }
        var content = new ByteArrayContent(body);
        foreach (var h in request.Content!.Headers)
        {
            content.Headers.TryAddWithoutValidation(h.Key, h.Value);
        }
        return content;
    }
}
