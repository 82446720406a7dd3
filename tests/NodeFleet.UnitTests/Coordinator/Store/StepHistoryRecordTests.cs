using NodeFleet.Coordinator.Store;
using NodeFleet.Tests.TestSupport;

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
        // Exactly these eight: a field added to a step must be added to SameFields too.
        Assert.Equal(8, FieldChange.StoredFields<StepHistoryRecord>().Count);
        FieldChange.AssertEveryChangeSeen(Sample, s => s.Copy(), (a, b) => a.SameFields(b), fields: 8);
    }
}
