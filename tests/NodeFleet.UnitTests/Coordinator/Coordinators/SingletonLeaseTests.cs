using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.Postgres;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Coordinators;

/// <summary>
/// Two coordinators' singleton leases on one real PostgreSQL database (each its own store, as two processes have): one
/// holds it; when it stops renewing, it stops acting before the other can take it over, and says so in the records.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class SingletonLeaseTests(PostgresServer server)
{
    private static SingletonLease Lease(ICoordinatorStore store, int port, string ttl) => new(store, new EventBus(),
        new CoordinatorIdentity(new IPEndPoint(IPAddress.Loopback, port), DateTime.UtcNow),
        Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions { LeaseTtl = ttl }), TimeProvider.System,
        NullLogger<SingletonLease>.Instance, shared: true);

    [Fact]
    public async Task A_holder_that_stops_renewing_stops_acting_before_the_other_takes_over_and_records_when()
    {
        var setting = (await server.CreateDatabaseAsync()).Setting;
        await using var storeA = await PostgresStore.OpenAsync(setting);
        await using var storeB = await PostgresStore.OpenAsync(setting);
        var a = Lease(storeA, 7443, "3s");
        var b = Lease(storeB, 7444, "3s");

        await a.TickAsync();
        await b.TickAsync();
        var first = Assert.IsType<Lease>(a.Current);
        Assert.Null(b.Current);
        Assert.Equal(1, first.Token);

        // a stops renewing (a pause, a partition): b gets nothing until the TTL has passed, and by then a has stopped.
        Lease? taken = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (taken is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            await b.TickAsync();
            taken = b.Current;
            if (taken is null) continue;
            Assert.Null(a.Current);
        }
        Assert.NotNull(taken);
        Assert.Equal(2, taken.Token);

        // a's writes under its old lease are refused by the database: fencing.
        await Assert.ThrowsAsync<NodeFleet.Coordinator.Errors.LeaseLostException>(() => storeA.WriteAsync(s => s.RequireLease(first)));

        // Back, a finds the lease taken and records when it had stopped: before b's tenure began.
        await a.TickAsync();
        Assert.Null(a.Current);
        var events = storeB.Events.Newest(new EventQuery(10));
        Assert.Equal(["LeaseAcquired", "LeaseAcquired", "LeaseLost"], events.Select(e => e.Reason));
        Assert.Contains("/127.0.0.1:7443 stopped its singleton work", events[2].Message);
        Assert.Contains("(fencing token 1)", events[2].Message);
        Assert.Contains("/127.0.0.1:7444 holds the singleton lease (fencing token 2)", events[1].Message);
        Assert.True(events[2].Time < events[1].Time, $"stopped at {events[2].Time:O}, taken over at {events[1].Time:O}");
    }

    [Fact]
    public async Task On_litedb_the_only_coordinator_holds_the_lease_and_a_restart_goes_on_with_its_tenure()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "coordinator.db");
        long token;
        await using (var store = NodeFleet.Coordinator.Store.LiteDb.LiteDbStore.Open(path))
        {
            var lease = new SingletonLease(store, new EventBus(), new CoordinatorIdentity(new IPEndPoint(IPAddress.Loopback, 7443), DateTime.UtcNow),
                Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions()), TimeProvider.System, NullLogger<SingletonLease>.Instance, shared: false);
            await lease.TickAsync();
            token = Assert.IsType<Lease>(lease.Current).Token;
        }
        await using (var store = NodeFleet.Coordinator.Store.LiteDb.LiteDbStore.Open(path))
        {
            // Another process (a new holder name on PostgreSQL) would wait for the TTL; on LiteDB it is the same holder.
            var lease = new SingletonLease(store, new EventBus(), new CoordinatorIdentity(new IPEndPoint(IPAddress.Loopback, 7555), DateTime.UtcNow),
                Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions()), TimeProvider.System, NullLogger<SingletonLease>.Instance, shared: false);
            await lease.TickAsync();
            Assert.Equal(token, Assert.IsType<Lease>(lease.Current).Token);
        }
    }
}
