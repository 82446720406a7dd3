using System.Net;
using Prometheus;

namespace NodeFleet.Coordinator.Observability;

/// <summary>
/// Wiring for the plain-HTTP observability port: /metrics (Prometheus), /healthz (the process answers) and /readyz
/// (<see cref="Readiness"/>). It is a second Kestrel endpoint, HTTP/1.1 without TLS, separate from the mTLS gRPC
/// port; requests are told apart by the local port they arrived on, so these paths answer only there and nothing
/// else (gRPC included) does.
/// </summary>
public static partial class ObservabilityEndpoint
{
    /// <summary>Registers the metrics registry, what feeds it, and readiness.</summary>
    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddSingleton(_ =>
        {
            // A registry of our own rather than the process-wide static one: one coordinator per host, and tests
            // can build as many as they like. Process and .NET runtime metrics are added to it.
            var registry = Metrics.NewCustomRegistry();
            DotNetStats.Register(registry);
            return registry;
        });
        services.AddSingleton<CoordinatorMetrics>();
        services.AddSingleton<RolloutMetrics>();
        services.AddSingleton<FleetGauges>();
        services.AddSingleton<Readiness>();
        return services;
    }

    /// <summary>
    /// Answers requests that arrive on <paramref name="endpoint"/>'s port with /metrics, /healthz and /readyz; a
    /// null endpoint (metricsListen "" or "off") adds nothing. Call before routing.
    /// </summary>
    public static void UseObservabilityPort(this WebApplication app, IPEndPoint? endpoint)
    {
        // Created now, not at first use, so the first scrape already shows every nodefleet_ series.
        app.Services.GetRequiredService<FleetGauges>();
        app.Services.GetRequiredService<CoordinatorMetrics>();
        app.Services.GetRequiredService<RolloutMetrics>();
        if (endpoint is null) return;
        var registry = app.Services.GetRequiredService<CollectorRegistry>();
        var readiness = app.Services.GetRequiredService<Readiness>();
        var port = endpoint.Port;
        app.MapWhen(c => c.Connection.LocalPort == port, branch =>
        {
            branch.UseMetricServer("/metrics", registry);
            branch.Run(c => c.Request.Path.Value switch
            {
                "/healthz" => Text(c, StatusCodes.Status200OK, "ok"),
                "/readyz" => readiness.NotReadyReason() is { } reason
                    ? Text(c, StatusCodes.Status503ServiceUnavailable, $"not ready: {reason}")
                    : Text(c, StatusCodes.Status200OK, "ok"),
                _ => Text(c, StatusCodes.Status404NotFound, "not found: this port serves /metrics, /healthz and /readyz"),
            });
        });
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ObservabilityEndpoint).FullName!);
        app.Lifetime.ApplicationStarted.Register(() => LogServing(log, endpoint.ToString()));
    }

    private static Task Text(HttpContext c, int status, string body)
    {
        c.Response.StatusCode = status;
        c.Response.ContentType = "text/plain; charset=utf-8";
        return c.Response.WriteAsync(body + "\n");
    }

    [LoggerMessage(EventId = 2301, Level = LogLevel.Information,
        Message = "Metrics, health and readiness on http://{MetricsListen} (/metrics, /healthz, /readyz)")]
    private static partial void LogServing(ILogger log, string metricsListen);
}
