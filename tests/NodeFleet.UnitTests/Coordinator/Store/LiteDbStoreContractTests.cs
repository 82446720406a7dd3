using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The store contract on LiteDB: a real file in a temp directory.</summary>
public sealed class LiteDbStoreContractTests : StoreContractTests, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<ICoordinatorStore> OpenAsync(TimeProvider time) =>
        Task.FromResult<ICoordinatorStore>(new LiteDbStore(_dir.File(LiteDbStore.FileName), time));

    public void Dispose() => _dir.Dispose();
}
