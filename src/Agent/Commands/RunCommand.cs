using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace NodeFleet.Agent.Commands;

/// <summary>
/// `nodefleet-agent run`: starts the agent's services (the plan worker, then the coordinator link), tells systemd
/// it is ready (the unit is Type=notify), and stops them in reverse order when termination is requested (SIGTERM
/// from systemd, Ctrl+C: the command line's cancellation token) or when one of them fails.
/// </summary>
/// <remarks>
/// This is what the Generic Host did for the agent, without what the agent does not use: configuration sources,
/// options, host environment, logging providers of its own (the agent logs through Serilog). In the Native AOT binary
/// those were 0.7 MB of code and type data, nearly all of it resident in an idle node (BENCHMARKS.md, "Agent idle
/// memory").
/// </remarks>
public static class RunCommand
{
    /// <summary>How long the services get to stop (the Generic Host's default, and the unit's TimeoutStopSec).</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs <paramref name="services"/> until <paramref name="ct"/> is cancelled: 0, or 1 when a service failed.
    /// Once <paramref name="settled"/> completes (start-up is over: the first connection), the start-up garbage is
    /// returned to the system (<see cref="ReleaseStartupMemory"/>, or <paramref name="releaseStartupMemory"/> in tests).
    /// </summary>
    public static async Task<int> RunAsync(IReadOnlyList<IHostedService> services, Task settled, ISystemdNotifier systemd,
        ILogger log, CancellationToken ct, Action? releaseStartupMemory = null)
    {
        var release = releaseStartupMemory ?? ReleaseStartupMemory;
        _ = settled.ContinueWith(_ => release(), CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        var started = new List<IHostedService>();
        var exitCode = 0;
        try
        {
            foreach (var service in services)
            {
                await service.StartAsync(ct);
                started.Add(service);
            }
            if (systemd.IsEnabled) systemd.Notify(ServiceState.Ready);
            exitCode = await WaitAsync(started, log, ct);
        }
        finally
        {
            if (systemd.IsEnabled) systemd.Notify(ServiceState.Stopping);
            log.LogInformation("Shutting down");
            using var timeout = new CancellationTokenSource(ShutdownTimeout);
            for (var i = started.Count - 1; i >= 0; i--)
            {
                try { await started[i].StopAsync(timeout.Token); }
                catch (Exception e)
                {
                    log.LogError(e, "Stopping {Service} failed", started[i].GetType().Name);
                }
            }
        }
        return exitCode;
    }

    /// <summary>
    /// One full, compacting, aggressive collection, which also gives the freed heap memory back to the system.
    /// Start-up (the journal, certificates, TLS, gRPC, facts) allocates about 6 MB of which under 2 MB stays live, and
    /// an idle agent allocates only a few KB a heartbeat: without this the start-up garbage would stay resident until
    /// collections happen to reach it. Later garbage does not pile up: the agent's gen0 budget is small (GCgen0size in
    /// Agent.csproj).
    /// </summary>
    internal static void ReleaseStartupMemory() =>
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>Until termination is requested (0) or a background service ends with an error (1).</summary>
    private static async Task<int> WaitAsync(IEnumerable<IHostedService> services, ILogger log, CancellationToken ct)
    {
        var terminated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = ct.Register(() => terminated.TrySetResult());
        var running = services.OfType<BackgroundService>().Select(s => (Service: s, Task: s.ExecuteTask))
            .Where(s => s.Task is not null).ToList();
        while (true)
        {
            var done = await Task.WhenAny([terminated.Task, .. running.Select(s => s.Task!)]);
            if (done == terminated.Task) return 0;
            var ended = running.Single(s => s.Task == done);
            running.Remove(ended);
            if (done.IsFaulted)
            {
                var error = done.Exception.InnerException;
                // A known problem (a damaged file, say) is said in one line; anything else keeps its stack trace.
                if (error is Join.AgentException or InvalidDataException)
                    log.LogError("{Service} stopped: {Error}; stopping the agent", ended.Service.GetType().Name, error.Message);
                else
                    log.LogError(error, "{Service} failed; stopping the agent", ended.Service.GetType().Name);
                return 1;
            }
        }
    }
}
