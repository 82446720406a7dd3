using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Rollouts.Windows;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The contract for maintenance windows, and for what a rollout keeps of them.</summary>
public abstract partial class StoreContractTests
{
    private static readonly DateTime W0 = new(2030, 5, 1, 8, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task Windows_are_inserted_listed_by_name_updated_under_their_revision_and_deleted()
    {
        await Store.WriteAsync(s =>
        {
            s.Windows.Insert(new WindowRecord { Name = "weekend", Selector = "role=worker", Schedule = "Sat,Sun 02:00-06:00", TimeZone = "Europe/Berlin", CreatedAt = W0, UpdatedAt = W0 });
            s.Windows.Insert(new WindowRecord { Name = "nightly", Schedule = "22:00-04:00", TimeZone = "UTC", CreatedAt = W0, UpdatedAt = W0 });
        });
        Assert.Equal(["nightly", "weekend"], Store.Windows.List().Select(w => w.Name));
        var weekend = Store.Windows.Get("weekend")!;
        Assert.Equal(("role=worker", "Sat,Sun 02:00-06:00", "Europe/Berlin", W0), (weekend.Selector, weekend.Schedule, weekend.TimeZone, weekend.CreatedAt));
        Assert.Equal("", Store.Windows.Get("nightly")!.Selector);
        Assert.Null(Store.Windows.Get("never"));
        await Assert.ThrowsAsync<AlreadyExistsException>(() => Store.WriteAsync(s => s.Windows.Insert(new WindowRecord { Name = "weekend" })));

        weekend.Schedule = "Sun 01:00-05:00";
        await Store.WriteAsync(s => s.Windows.Update(weekend));
        Assert.Equal("Sun 01:00-05:00", Store.Windows.Get("weekend")!.Schedule);
        weekend.Schedule = "stale";
        weekend.Revision--;
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Windows.Update(weekend)));

        Assert.True(await Store.WriteAsync(s => s.Windows.Delete("weekend")));
        Assert.False(await Store.WriteAsync(s => s.Windows.Delete("weekend")));
        Assert.Equal(["nightly"], Store.Windows.List().Select(w => w.Name));
    }

    [Fact]
    public async Task A_rollout_keeps_its_window_what_it_waits_for_and_each_nodes_windows()
    {
        var r = Rollout("rw", RolloutState.Rolling, "w1", "w2");
        r.Window = "";
        r.Nodes[0].Windows = ["nightly", "weekend"];
        r.WaitingForWindow = "weekend";
        r.WindowOpensAt = W0.AddHours(3);
        r.WindowOpensLocal = "Sat 02:00 CET";
        await Store.WriteAsync(s => s.Rollouts.Insert(r));
        var back = Store.Rollouts.Get("rw")!;
        Assert.Equal(("weekend", (DateTime?)W0.AddHours(3), "Sat 02:00 CET"), (back.WaitingForWindow, back.WindowOpensAt, back.WindowOpensLocal));
        Assert.Equal(["nightly", "weekend"], back.Node("w1")!.Windows);
        Assert.Empty(back.Node("w2")!.Windows);

        back.Window = "nightly";
        back.WaitingForWindow = "";
        back.WindowOpensAt = null;
        await Store.WriteAsync(s => s.Rollouts.Update(back));
        var again = Store.Rollouts.Get("rw")!;
        Assert.Equal(("nightly", "", (DateTime?)null), (again.Window, again.WaitingForWindow, again.WindowOpensAt));
    }
}
