using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>Retention: what the sweep deletes, and what it keeps, in every store.</summary>
public abstract partial class StoreContractTests
{
    [Fact]
    public async Task Events_older_than_the_cutoff_are_deleted_in_batches_and_newer_ones_kept()
    {
        var t0 = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await Store.WriteAsync(s =>
        {
            for (var i = 0; i < 7; i++) s.Events.Add(new EventRecord { Time = t0.AddDays(i), Reason = $"R{i}", Node = "n1", Message = "m" });
        });
        // Before day 5: days 0-4, five events, in batches of at most 3.
        Assert.Equal(3, await Store.WriteAsync(s => s.Events.DeleteOlderThan(t0.AddDays(5), 3)));
        Assert.Equal(2, await Store.WriteAsync(s => s.Events.DeleteOlderThan(t0.AddDays(5), 3)));
        Assert.Equal(0, await Store.WriteAsync(s => s.Events.DeleteOlderThan(t0.AddDays(5), 3)));
        Assert.Equal(["R5", "R6"], Store.Events.Newest(new EventQuery(100)).Select(e => e.Reason));
    }

    [Fact]
    public async Task A_nodes_runs_beyond_its_newest_are_deleted_except_those_of_kept_rollouts()
    {
        var t0 = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await Store.WriteAsync(s =>
        {
            for (var i = 0; i < 6; i++)
                s.Runs.Insert(new RunHistoryRecord
                {
                    Id = $"n1:r{i}", RunId = $"r{i}", Node = "n1", StartedAt = t0.AddHours(i), RolloutId = i == 0 ? "active" : "",
                });
            s.Runs.Insert(new RunHistoryRecord { Id = "n2:r0", RunId = "r0", Node = "n2", StartedAt = t0 });
        });
        // Keep the newest 2 of n1 (r5, r4) and r0, whose rollout is still active; r1-r3 go. n2 is untouched.
        var deleted = await Store.WriteAsync(s => s.Runs.DeleteBeyond("n1", 2, new HashSet<string> { "active" }));
        Assert.Equal(3, deleted);
        Assert.Equal(["r5", "r4", "r0"], Store.Runs.ListByNode("n1", 100).Select(r => r.RunId));
        Assert.Single(Store.Runs.ListByNode("n2", 100));
    }

    [Fact]
    public async Task The_sweep_applies_the_retention_settings_on_the_store_clock()
    {
        var now = Time.GetUtcNow().UtcDateTime;
        await Store.WriteAsync(s =>
        {
            s.Nodes.Insert(Node("n1"));
            s.Events.Add(new EventRecord { Time = now.AddDays(-91), Reason = "Old", Node = "n1" });
            s.Events.Add(new EventRecord { Time = now.AddDays(-89), Reason = "Recent", Node = "n1" });
            for (var i = 0; i < 4; i++)
                s.Runs.Insert(new RunHistoryRecord { Id = $"n1:r{i}", RunId = $"r{i}", Node = "n1", StartedAt = now.AddHours(-i) });
        });
        var options = Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions { RetentionRunsPerNode = 3 });
        var sweeper = new RetentionSweeper(Store, options, Time, NullLogger<RetentionSweeper>.Instance);
        Assert.Equal((1, 1), await sweeper.SweepAsync(options.Value.Retention));
        Assert.Equal(["Recent"], Store.Events.Newest(new EventQuery(100)).Select(e => e.Reason));
        Assert.Equal(["r0", "r1", "r2"], Store.Runs.ListByNode("n1", 100).Select(r => r.RunId));
        Assert.True(Store.SizeBytes() > 0);
    }
}
