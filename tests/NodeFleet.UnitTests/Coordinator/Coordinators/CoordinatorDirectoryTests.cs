using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Messaging;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.Postgres;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Coordinators;

/// <summary>
/// The coordinators told to agents: the <c>coordinators</c> setting when set, else the live ones of the store's registry,
/// as the coordinators' own heartbeats on one real PostgreSQL write and read it.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class CoordinatorDirectoryTests(PostgresServer server)
{
    private static readonly DateTime T0 = new(2030, 5, 1, 8, 0, 0, DateTimeKind.Utc);

    private static CoordinatorIdentity Me(int port) => new(new IPEndPoint(IPAddress.Loopback, port), DateTime.UtcNow);

    private static CoordinatorDirectory Directory(CoordinatorIdentity me, string store, string coordinators = "") =>
        new(Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions { Store = store, Coordinators = coordinators }), me);

    private static CoordinatorRecord Seen(string address, DateTime at) => new() { Id = $"host/{address}", Address = address, LastSeen = at };

    [Fact]
    public async Task With_no_setting_each_coordinator_tells_the_addresses_its_peers_heartbeats_wrote_in_the_store()
    {
        var setting = (await server.CreateDatabaseAsync()).Setting;
        await using var storeA = await PostgresStore.OpenAsync(setting);
        await using var storeB = await PostgresStore.OpenAsync(setting);
        var (meA, meB) = (Me(7551), Me(7552));
        var (dirA, dirB) = (Directory(meA, setting), Directory(meB, setting));
        Assert.True(dirA.FollowsRegistry);

        CoordinatorHeartbeat Heartbeat(ICoordinatorStore store, CoordinatorIdentity me, CoordinatorDirectory dir) => new(store, me,
            new Presence(TimeProvider.System),
            new SingletonLease(store, new EventBus(), me, Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions { LeaseTtl = "3s" }),
                TimeProvider.System, NullLogger<SingletonLease>.Instance, shared: true),
            new StoreHealth(), TimeProvider.System, NullLogger<CoordinatorHeartbeat>.Instance, dir);
        using var a = Heartbeat(storeA, meA, dirA);
        using var b = Heartbeat(storeB, meB, dirB);
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        try
        {
            string[] both = ["127.0.0.1:7551", "127.0.0.1:7552"];
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline && !(dirA.Addresses().SequenceEqual(both) && dirB.Addresses().SequenceEqual(both)))
                await Task.Delay(100);
            Assert.Equal(both, dirA.Addresses());
            Assert.Equal(both, dirB.Addresses());
        }
        finally
        {
            await a.StopAsync(CancellationToken.None);
            await b.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void A_coordinator_not_seen_within_the_bound_leaves_the_list_and_the_list_is_one_instance_until_it_changes()
    {
        var dir = Directory(Me(7443), "postgres://nodefleet@db.example/nodefleet");
        var leaseTtl = TimeSpan.FromSeconds(15); // alive: seen within 15 s + 3 heartbeats of 2 s
        Assert.Empty(dir.Addresses()); // nothing read yet: the agent keeps its own list

        dir.Refresh([Seen("10.0.0.9:7443", T0), Seen("10.0.0.2:7443", T0.AddSeconds(-20)), Seen("10.0.0.3:7443", T0.AddSeconds(-22))], T0, leaseTtl);
        var told = dir.Addresses();
        // Sorted, so every coordinator tells the same list; its own address is in it before its first record is read.
        Assert.Equal(["10.0.0.2:7443", "10.0.0.9:7443", "127.0.0.1:7443"], told);

        dir.Refresh([Seen("10.0.0.2:7443", T0), Seen("10.0.0.9:7443", T0)], T0.AddSeconds(1), leaseTtl);
        Assert.Same(told, dir.Addresses());

        dir.Refresh([Seen("10.0.0.2:7443", T0), Seen("10.0.0.9:7443", T0.AddSeconds(-30))], T0.AddSeconds(2), leaseTtl);
        Assert.Equal(["10.0.0.2:7443", "127.0.0.1:7443"], dir.Addresses());
    }

    [Fact]
    public void The_setting_wins_over_the_registry_and_litedb_with_no_setting_tells_nothing()
    {
        var set = Directory(Me(7443), "postgres://nodefleet@db.example/nodefleet", "coord-a.example:7443,coord-b.example");
        Assert.False(set.FollowsRegistry);
        set.Refresh([Seen("10.0.0.2:7443", T0)], T0, TimeSpan.FromSeconds(15));
        Assert.Equal(["coord-a.example:7443", "coord-b.example:7443"], set.Addresses());

        var lite = Directory(Me(7443), "");
        Assert.False(lite.FollowsRegistry);
        lite.Refresh([Seen("10.0.0.2:7443", T0)], T0, TimeSpan.FromSeconds(15));
        Assert.Empty(lite.Addresses());
    }
}
