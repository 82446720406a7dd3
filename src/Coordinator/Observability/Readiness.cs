using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Observability;

/// <summary>Whether the coordinator can serve: its database is open and reachable, and its gRPC port is listening.</summary>
public sealed class Readiness(ICoordinatorStore store, IHostApplicationLifetime lifetime, StoreHealth? health = null)
{
    /// <summary>Null when ready, else why not, in a phrase for the /readyz body.</summary>
    public string? NotReadyReason()
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested) return "shutting down";
        if (!store.IsOpen) return "the database is not open";
        if (health?.Problem is { } problem) return $"the store is unreachable: {problem}";
        // Kestrel binds every endpoint, the gRPC one included, before the host reports it has started.
        if (!lifetime.ApplicationStarted.IsCancellationRequested) return "the gRPC endpoint is not listening yet";
        return null;
    }
}

/// <summary>
/// Whether the last write to the store went through, as the coordinator's own heartbeat finds every few seconds
/// (<see cref="Coordinators.CoordinatorHeartbeat"/>): a PostgreSQL that stopped or cannot be reached makes the
/// coordinator not ready until a write succeeds again.
/// </summary>
public sealed class StoreHealth
{
    private volatile string? _problem;

    /// <summary>Why the last write failed; null once one succeeded.</summary>
    public string? Problem => _problem;

    public void Succeeded() => _problem = null;

    public void Failed(string problem) => _problem = problem;
}
