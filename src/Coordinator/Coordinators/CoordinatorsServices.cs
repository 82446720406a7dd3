using System.Net;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Coordinators;

/// <summary>Wiring of what lets several coordinators share one store: identity, the singleton lease, the heartbeat.</summary>
public static class CoordinatorsServices
{
    public static IServiceCollection AddCoordinators(this IServiceCollection services, CoordinatorOptions options, IPEndPoint listen,
        TimeProvider time)
    {
        services.AddSingleton(new CoordinatorIdentity(listen, time.GetUtcNow().UtcDateTime));
        services.AddSingleton<StoreHealth>();
        services.AddSingleton(sp => new SingletonLease(sp.GetRequiredService<ICoordinatorStore>(), sp.GetRequiredService<EventBus>(),
            sp.GetRequiredService<CoordinatorIdentity>(), sp.GetRequiredService<IOptions<CoordinatorOptions>>(), time,
            sp.GetRequiredService<ILogger<SingletonLease>>(), shared: options.UsesPostgres));
        services.AddHostedService(sp => sp.GetRequiredService<SingletonLease>());
        services.AddHostedService<CoordinatorHeartbeat>();
        return services;
    }
}
