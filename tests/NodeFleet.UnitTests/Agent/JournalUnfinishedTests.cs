using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>The run a restarted agent resumes, as a real journal file finds it: the newest one the transition table calls unfinished.</summary>
public sealed class JournalUnfinishedTests : IDisposable
{
    private static readonly DateTime T0 = new(2030, 5, 1, 8, 0, 0, DateTimeKind.Utc);
    private readonly TempDir _root = new();

    public void Dispose() => _root.Dispose();

    [Fact]
    public void The_newest_running_or_undoing_run_is_the_unfinished_one_and_finished_runs_are_never()
    {
        using var journal = new Journal(new HostRoot(_root.Path));
        var states = Enum.GetValues<RunState>();
        // Every state, the finished ones newest, so that the query, not the order, has to tell them apart.
        journal.Write(j =>
        {
            foreach (var (state, i) in states.OrderBy(RunTransitions.IsUnfinished).Select((s, i) => (s, i)))
                j.Runs.Insert(new RunRecord { Id = $"run-{state}", State = state, StartedAt = T0.AddMinutes(-i) });
        });
        Assert.Equal($"run-{RunState.Running}", journal.Unfinished()?.Id);

        journal.Write(j => j.Runs.Delete($"run-{RunState.Running}"));
        Assert.Equal($"run-{RunState.UndoRunning}", journal.Unfinished()?.Id);

        journal.Write(j => j.Runs.Delete($"run-{RunState.UndoRunning}"));
        Assert.Null(journal.Unfinished());
    }
}
