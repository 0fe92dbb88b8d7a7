using System.Net;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PgRaft.Node.Cluster;
using PgRaft.Node.Sentinel;
using PgRaft.Raft.Hosting;

namespace PgRaft.Node.Api;

/// <summary>
/// The node's HTTP API on Kestrel: signed node-to-node calls under <c>/internal/v1</c>, and health endpoints that
/// HAProxy and Kubernetes probes understand (status code only matters: 200 yes, 503 no).
/// </summary>
internal sealed class ApiServer : IAsyncDisposable
{
    public const int MaxBodyBytes = 1024 * 1024;

    private readonly WebApplication _app;

    public ApiServer(IPEndPoint bind, IControlPlane controlPlane, RequestSigner signer, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(bind);
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            kestrel.AddServerHeader = false;
        });
        _app = builder.Build();
        var logger = loggerFactory.CreateLogger<ApiServer>();
        MapInternal(_app, controlPlane, signer, logger);
        MapMembership(_app, controlPlane, signer, logger);
        MapHealth(_app, controlPlane);
    }

    public Task StartAsync(CancellationToken cancellationToken) => _app.StartAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }

    private static void MapInternal(WebApplication app, IControlPlane plane, RequestSigner signer, ILogger logger)
    {
        Signed(app, "/internal/v1/report", ApiJsonContext.Default.KeeperReport, ApiJsonContext.Default.ReportAck, plane.AcceptReportAsync, signer, logger);
        Signed(app, "/internal/v1/lease", ApiJsonContext.Default.LeaseRequest, ApiJsonContext.Default.LeaseResponse, plane.GrantLeaseAsync, signer, logger);
        Signed(
            app,
            "/internal/v1/propose",
            ApiJsonContext.Default.ClusterCommand,
            ApiJsonContext.Default.ProposeResponse,
            async (command, ct) =>
            {
                var result = await plane.ProposeAsync(command, ct);
                return new ProposeResponse(result.Outcome, result.Message, result.OperationId);
            },
            signer,
            logger);
    }

    private static void MapMembership(WebApplication app, IControlPlane plane, RequestSigner signer, ILogger logger) =>
        Signed(app, "/internal/v1/membership", ApiJsonContext.Default.MembershipChange, ApiJsonContext.Default.MembershipResult, plane.ChangeMembershipAsync, signer, logger);

    private static void Signed<TRequest, TResponse>(
        WebApplication app,
        string path,
        JsonTypeInfo<TRequest> requestType,
        JsonTypeInfo<TResponse> responseType,
        Func<TRequest, CancellationToken, Task<TResponse>> handle,
        RequestSigner signer,
        ILogger logger)
    {
        app.MapPost(path, async context =>
        {
            var cancellationToken = context.RequestAborted;
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, cancellationToken);
            var bytes = body.ToArray();
            var refusal = signer.Check("POST", path, context.Request.Headers[RequestSigner.HeaderName], bytes);
            if (refusal is not null)
            {
                LogMessages.RefusedApiCall(logger, path, context.Connection.RemoteIpAddress?.ToString() ?? "?", refusal);
                await Error(context, StatusCodes.Status401Unauthorized, null, refusal, cancellationToken);
                return;
            }

            TRequest? request;
            try
            {
                request = System.Text.Json.JsonSerializer.Deserialize(bytes, requestType);
            }
            catch (System.Text.Json.JsonException ex)
            {
                await Error(context, StatusCodes.Status400BadRequest, null, $"the request body is not a valid {typeof(TRequest).Name}: {ex.Message}", cancellationToken);
                return;
            }

            if (request is null)
            {
                await Error(context, StatusCodes.Status400BadRequest, null, $"the request body must be a {typeof(TRequest).Name} object", cancellationToken);
                return;
            }

            try
            {
                var response = await handle(request, cancellationToken);
                context.Response.ContentType = "application/json";
                await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, response, responseType, cancellationToken);
            }
            catch (NotLeaderException ex)
            {
                await Error(context, StatusCodes.Status421MisdirectedRequest, ex.LeaderId, ex.Message, cancellationToken);
            }
        });
    }

    private static async Task Error(HttpContext context, int status, string? leader, string message, CancellationToken cancellationToken)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, new NotLeaderResponse(leader, message), ApiJsonContext.Default.NotLeaderResponse, cancellationToken);
    }

    private static void MapHealth(WebApplication app, IControlPlane plane)
    {
        // Patroni-compatible names, so existing HAProxy checks and Kubernetes probes keep working. `?lag=16MB` (or bytes)
        // on the standby checks says no to a standby further behind, as Patroni's does.
        // Routing checks say yes only while PostgreSQL accepts connections; liveness only needs the postmaster (a
        // server recovering for minutes after a crash is alive, and a probe that restarted it would only make it worse).
        Probe(app, ["/primary", "/master", "/leader", "/read-write"], h => h.IsViewPrimary && h.HoldsLease && h.Accepting && h.Role == PgRole.Primary);
        Probe(app, ["/replica", "/standby"], h => h.Accepting && h.Role == PgRole.Standby && !h.NoLoadBalance, lagged: true);
        Probe(app, ["/read-only"], h => h.Accepting && (h.Role == PgRole.Primary || !h.NoLoadBalance), lagged: true);
        Probe(app, ["/sync", "/synchronous"], h => h.Accepting && h.Role == PgRole.Standby && h.InSyncSet);
        Probe(app, ["/async", "/asynchronous"], h => h.Accepting && h.Role == PgRole.Standby && !h.InSyncSet, lagged: true);
        Probe(app, ["/health", "/liveness"], h => h.PostgresRunning || h.State == "starting");
        app.MapGet("/readiness", context => Respond(context, plane.Health, plane.Health.Accepting));
        app.MapGet("/cluster", async context =>
        {
            context.Response.ContentType = "application/json";
            await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, plane.ClusterState, ApiJsonContext.Default.ClusterState, context.RequestAborted);
        });
        app.MapGet("/cluster/nodes", async context =>
        {
            context.Response.ContentType = "application/json";
            await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, plane.Nodes, ApiJsonContext.Default.ClusterNodes, context.RequestAborted);
        });
        app.MapGet("/history", async context =>
        {
            context.Response.ContentType = "application/json";
            await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, plane.ClusterState.History, ApiJsonContext.Default.ImmutableListHistoryEntry, context.RequestAborted);
        });
        app.MapGet("/config", async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(SpecDocument.Render(plane.ClusterState.Spec), context.RequestAborted);
        });
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = MetricsWriter.ContentType;
            await context.Response.WriteAsync(MetricsWriter.Write(plane.Metrics), context.RequestAborted);
        });
        app.MapGet("/", context =>
        {
            context.Response.Redirect("/dashboard");
            return Task.CompletedTask;
        });
        app.MapGet("/dashboard", async context =>
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'";
            await context.Response.Body.WriteAsync(Dashboard.Page, context.RequestAborted);
        });

        void Probe(WebApplication web, string[] paths, Func<LocalHealth, bool> healthy, bool lagged = false)
        {
            foreach (var path in paths)
            {
                web.MapMethods(path, ["GET", "HEAD", "OPTIONS"], async context =>
                {
                    var health = plane.Health;
                    var maxLag = (long?)null;
                    if (lagged && context.Request.Query["lag"] is { Count: > 0 } lag)
                    {
                        if (!SpecDocument.TryParseSize(lag.ToString(), out var bytes))
                        {
                            await Error(context, StatusCodes.Status400BadRequest, null, $"lag '{lag}' is not a size: write e.g. ?lag=1048576 or ?lag=16MB", context.RequestAborted);
                            return;
                        }

                        maxLag = bytes;
                    }

                    // A standby whose lag the leader has not reported counts as too far behind a given limit.
                    var withinLag = maxLag is not { } limit || health.Role == PgRole.Primary || health.LagBytes is { } behind && behind <= limit;
                    await Respond(context, health, healthy(health) && withinLag);
                });
            }
        }
    }

    private static async Task Respond(HttpContext context, LocalHealth health, bool healthy)
    {
        context.Response.StatusCode = healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, health, ApiJsonContext.Default.LocalHealth, context.RequestAborted);
        }
    }
}
