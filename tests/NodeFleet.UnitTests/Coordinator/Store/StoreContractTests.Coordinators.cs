using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The contract for the coordinators table: each coordinator's heartbeat record.</summary>
public abstract partial class StoreContractTests
{
    private static readonly DateTime C0 = new(2030, 5, 1, 8, 0, 0, DateTimeKind.Utc);

    private static CoordinatorRecord Coordinator(string id, DateTime seen, int agents = 0, bool lease = false) => new()
    {
        Id = id, Address = id.Split('/')[^1], Version = "1.2.3", ConnectedAgents = agents, LeaseHeld = lease,
        StartedAt = C0, LastSeen = seen,
    };

    [Fact]
    public async Task Coordinators_are_put_by_id_replaced_by_their_heartbeat_listed_by_id_and_dropped_when_long_unseen()
    {
        await Store.WriteAsync(s => s.Coordinators.Put(Coordinator("host-b/10.0.0.2:7443", C0, agents: 3)));
        await Store.WriteAsync(s => s.Coordinators.Put(Coordinator("host-a/10.0.0.1:7443", C0, agents: 5, lease: true)));
        Assert.Equal(["host-a/10.0.0.1:7443", "host-b/10.0.0.2:7443"], Store.Coordinators.List().Select(c => c.Id));

        // The next heartbeat replaces the record: one row per coordinator, whatever it says.
        await Store.WriteAsync(s => s.Coordinators.Put(Coordinator("host-b/10.0.0.2:7443", C0.AddSeconds(5), agents: 4, lease: true)));
        var b = Assert.Single(Store.Coordinators.List(), c => c.Id == "host-b/10.0.0.2:7443");
        Assert.Equal(("10.0.0.2:7443", "1.2.3", 4, true, C0, C0.AddSeconds(5)),
            (b.Address, b.Version, b.ConnectedAgents, b.LeaseHeld, b.StartedAt, b.LastSeen));
        Assert.Equal(2, Store.Coordinators.List().Count);

        Assert.Equal(1, await Store.WriteAsync(s => s.Coordinators.DeleteSeenBefore(C0.AddSeconds(1))));
        Assert.Equal(["host-b/10.0.0.2:7443"], Store.Coordinators.List().Select(c => c.Id));
    }

    [Fact]
    public async Task Queued_rollout_reports_are_taken_oldest_first_and_once()
    {
        RolloutReportRecord Report(string node, byte b) => new() { Node = node, RolloutId = "r1", Report = [b, 0, 255], QueuedAt = C0 };
        var first = Report("w1", 1);
        await Store.WriteAsync(s =>
        {
            s.RolloutReports.Add(first);
            s.RolloutReports.Add(Report("w2", 2));
        });
        await Store.WriteAsync(s => s.RolloutReports.Add(Report("w1", 3)));
        Assert.True(first.Id > 0);

        var taken = await Store.WriteAsync(s => s.RolloutReports.Take(2));
        Assert.Equal([("w1", (byte)1), ("w2", (byte)2)], taken.Select(r => (r.Node, r.Report[0])));
        Assert.Equal(("r1", C0), (taken[0].RolloutId, taken[0].QueuedAt));
        Assert.Equal([1, 0, 255], taken[0].Report);
        Assert.Equal(first.Id, taken[0].Id);
        var rest = await Store.WriteAsync(s => s.RolloutReports.Take(10));
        Assert.Equal([("w1", (byte)3)], rest.Select(r => (r.Node, r.Report[0])));
        Assert.Empty(await Store.WriteAsync(s => s.RolloutReports.Take(10)));
    }
}
