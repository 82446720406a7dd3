using System.Reflection;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>
/// The PostgreSQL store writes a run's step only when it differs from the copy it last read or wrote: a stored field the
/// comparison left out would be a change never written.
/// </summary>
public sealed class StepHistoryRecordTests
{
    private static StepHistoryRecord Sample() => new()
    {
        Phase = "kubelet-config", Step = "drop-in", State = 2, Message = "m", OutputTail = "o", Changed = true,
        StartedAt = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc),
    };

    [Fact]
    public void Every_stored_field_changed_alone_makes_the_step_differ_from_its_copy()
    {
        var fields = typeof(StepHistoryRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();
        Assert.Equal(8, fields.Count);
        foreach (var p in fields)
        {
            var step = Sample();
            var copy = step.Copy();
            Assert.True(step.SameFields(copy), p.Name);
            var t = p.PropertyType;
            var value = p.GetValue(step);
            object changed = t switch
            {
                _ when t == typeof(string) => (string)value! + "x",
                _ when t == typeof(int) => (int)value! + 1,
                _ when t == typeof(bool) => !(bool)value!,
                _ when t == typeof(DateTime?) => ((DateTime?)value ?? DateTime.UnixEpoch).AddSeconds(1),
                _ => throw new InvalidOperationException($"{p.Name}: a field of type {t.Name} this test does not know how to change; teach it and SameFields"),
            };
            p.SetValue(step, changed);
            Assert.False(step.SameFields(copy), $"a change of {p.Name} is not seen");
        }
    }
}
