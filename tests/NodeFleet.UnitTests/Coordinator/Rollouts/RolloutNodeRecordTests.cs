using System.Reflection;
using NodeFleet.Coordinator.Rollouts;

namespace NodeFleet.Tests.Coordinator.Rollouts;

/// <summary>
/// The stores write a rollout's node only when it differs from the copy they last read or wrote: a stored field the
/// comparison left out would be a change never written.
/// </summary>
public sealed class RolloutNodeRecordTests
{
    private static IEnumerable<PropertyInfo> StoredFields() => typeof(RolloutNodeRecord)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite);

    private static RolloutNodeRecord Sample() => new()
    {
        Name = "w1", Wave = 1, State = RolloutNodeState.Running, Phase = "kubeadm", Message = "m", RunId = "r",
        DrainEvicted = { "u1" }, DrainDeleted = { "u2" }, Windows = { "night" }, Topology = { ["zone"] = "a" },
        StartedAt = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc),
    };

    [Fact]
    public void Every_stored_field_changed_alone_makes_the_node_differ_from_its_copy()
    {
        var fields = StoredFields().ToList();
        Assert.True(fields.Count >= 30, $"only {fields.Count} fields found");
        foreach (var p in fields)
        {
            var node = Sample();
            var copy = node.Copy();
            Assert.True(node.SameFields(copy), p.Name);
            Change(node, p);
            Assert.False(node.SameFields(copy), $"a change of {p.Name} is not seen");
        }
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

    private static void Change(RolloutNodeRecord node, PropertyInfo p)
    {
        var t = p.PropertyType;
        var value = p.GetValue(node);
        object changed = t switch
        {
            _ when t == typeof(string) => (string)value! + "x",
            _ when t == typeof(int) => (int)value! + 1,
            _ when t == typeof(bool) => !(bool)value!,
            _ when t == typeof(DateTime?) => ((DateTime?)value ?? DateTime.UnixEpoch).AddSeconds(1),
            _ when t == typeof(RolloutNodeState) => (RolloutNodeState)value! == RolloutNodeState.Failed ? RolloutNodeState.Pending : RolloutNodeState.Failed,
            _ when t == typeof(List<string>) => new List<string>((List<string>)value!) { "more" },
            _ when t == typeof(Dictionary<string, string>) => new Dictionary<string, string>((Dictionary<string, string>)value!) { ["more"] = "1" },
            _ => throw new InvalidOperationException($"{p.Name}: a field of type {t.Name} this test does not know how to change; teach it and SameFields"),
        };
        p.SetValue(node, changed);
    }
}
