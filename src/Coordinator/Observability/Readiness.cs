using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Observability;

/// <summary>Whether the coordinator can serve: its database is open and its gRPC port is listening.</summary>
public sealed class Readiness(ICoordinatorStore store, IHostApplicationLifetime lifetime)
{
    /// <summary>Null when ready, else why not, in a phrase for the /readyz body.</summary>
    public string? NotReadyReason()
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested) return "shutting down";
        if (!store.IsOpen) return "the database is not open";
        // Kestrel binds every endpoint, the gRPC one included, before the host reports it has started.
        if (!lifetime.ApplicationStarted.IsCancellationRequested) return "the gRPC endpoint is not listening yet";
        return null;
    }
}
