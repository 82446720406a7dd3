using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Rollouts;

/// <summary>
/// The stores write a rollout's node only when it differs from the copy they last read or wrote: a stored field the
/// comparison left out would be a change never written.
/// </summary>
public sealed class RolloutNodeRecordTests
{
    private static RolloutNodeRecord Sample() => new()
    {
        Name = "w1", Wave = 1, State = RolloutNodeState.Running, Phase = "kubeadm", Message = "m", RunId = "r",
        DrainEvicted = { "u1" }, DrainDeleted = { "u2" }, Windows = { "night" }, Topology = { ["zone"] = "a" },
        StartedAt = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc),
    };

    [Fact]
    public void Every_stored_field_changed_alone_makes_the_node_differ_from_its_copy()
    {
        FieldChange.AssertEveryChangeSeen(Sample, n => n.Copy(), (a, b) => a.SameFields(b), fields: 30);
    }

    [Fact]
    public void A_copy_shares_no_list_or_map_with_the_node()
    {
        var node = Sample();
        var copy = node.Copy();
        node.DrainEvicted.Add("u3");
        node.DrainDeleted.Clear();
        node.Windows.Add("day");
        node.Topology["zone"] = "b";
        Assert.Equal(["u1"], copy.DrainEvicted);
        Assert.Equal(["u2"], copy.DrainDeleted);
        Assert.Equal(["night"], copy.Windows);
        Assert.Equal("a", copy.Topology["zone"]);
        Assert.False(node.SameFields(copy));
    }
}
