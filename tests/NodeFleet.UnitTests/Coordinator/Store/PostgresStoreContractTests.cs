using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.Postgres;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The store contract on PostgreSQL: a fresh database of the run's private cluster for each test.</summary>
[Collection(PostgresServer.Collection)]
public sealed class PostgresStoreContractTests(PostgresServer server) : StoreContractTests
{
    protected override async Task<ICoordinatorStore> OpenAsync(TimeProvider time) =>
        await PostgresStore.OpenAsync((await server.CreateDatabaseAsync()).Setting, time);
}
