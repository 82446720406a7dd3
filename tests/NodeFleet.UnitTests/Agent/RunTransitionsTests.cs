using NodeFleet.Agent.Execution;

namespace NodeFleet.Tests.Agent;

/// <summary>The agent's one table of run transitions, as a pure value: every move it allows, and every other refused.</summary>
public sealed class RunTransitionsTests
{
    // Written out here rather than read from the table, so that a change to the table is a change to this test too.
    private static readonly HashSet<(RunState From, RunState To)> Legal =
    [
        (RunState.Running, RunState.Succeeded),
        (RunState.Running, RunState.UndoRunning),
        (RunState.Succeeded, RunState.UndoRunning),
        (RunState.UndoRunning, RunState.Undone),
        (RunState.UndoRunning, RunState.Failed),
    ];

    public static TheoryData<RunState, RunState> Illegal()
    {
        var data = new TheoryData<RunState, RunState>();
        foreach (var from in Enum.GetValues<RunState>())
        foreach (var to in Enum.GetValues<RunState>())
            if (!Legal.Contains((from, to))) data.Add(from, to);
        return data;
    }

    public static TheoryData<RunState, RunState> Allowed()
    {
        var data = new TheoryData<RunState, RunState>();
        foreach (var (from, to) in Legal) data.Add(from, to);
        return data;
    }

    [Theory]
    [MemberData(nameof(Illegal))]
    public void Every_other_move_is_refused_and_leaves_the_run_as_it_was(RunState from, RunState to)
    {
        Assert.False(RunTransitions.IsAllowed(from, to));
        var run = new RunRecord { Id = "p-1", State = from };
        var e = Assert.Throws<InvalidOperationException>(() => RunTransitions.Move(run, to));
        Assert.Equal(from == to ? $"run p-1 is already {from}" : $"run p-1 is {from}; it cannot become {to}", e.Message);
        Assert.Equal(from, run.State);
    }

    [Theory]
    [MemberData(nameof(Allowed))]
    public void An_allowed_move_changes_the_state(RunState from, RunState to)
    {
        Assert.True(RunTransitions.IsAllowed(from, to));
        var run = new RunRecord { Id = "p-1", State = from };
        RunTransitions.Move(run, to);
        Assert.Equal(to, run.State);
    }

    [Fact]
    public void A_run_starts_running_or_refused_and_nothing_else()
    {
        foreach (var state in Enum.GetValues<RunState>())
        {
            var run = new RunRecord { Id = "p-1" };
            if (state is RunState.Running or RunState.Failed)
            {
                RunTransitions.Start(run, state);
                Assert.Equal(state, run.State);
            }
            else
            {
                Assert.Equal($"run p-1 cannot start {state}", Assert.Throws<InvalidOperationException>(() => RunTransitions.Start(run, state)).Message);
            }
        }
    }

    [Fact]
    public void Undone_and_failed_runs_are_final_and_only_running_and_undoing_ones_are_resumed()
    {
        foreach (var state in Enum.GetValues<RunState>())
        {
            Assert.Equal(state is RunState.Running or RunState.UndoRunning, RunTransitions.IsUnfinished(state));
            var final = Enum.GetValues<RunState>().All(to => !RunTransitions.IsAllowed(state, to));
            Assert.Equal(state is RunState.Undone or RunState.Failed, final);
        }
    }
}
