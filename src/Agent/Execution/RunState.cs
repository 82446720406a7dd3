namespace NodeFleet.Agent.Execution;

/// <summary>The states of a plan run on this node, as the journal stores them (by name: keep the names).</summary>
public enum RunState { Running, Succeeded, Failed, UndoRunning, Undone }

/// <summary>
/// The one table of allowed run transitions; every change of a run's state goes through <see cref="Move"/>, which
/// refuses anything else. A run starts <see cref="RunState.Running"/>, or <see cref="RunState.Failed"/> when the
/// agent refuses its plan; a failed step or an undo request leads through <see cref="RunState.UndoRunning"/>.
/// </summary>
public static class RunTransitions
{
    private static readonly Dictionary<RunState, RunState[]> Allowed = new()
    {
        [RunState.Running] = [RunState.Succeeded, RunState.UndoRunning],
        [RunState.Succeeded] = [RunState.UndoRunning],
        // Failed: the undo could not put everything back (or nothing ran: a refused plan).
        [RunState.UndoRunning] = [RunState.Undone, RunState.Failed],
        [RunState.Failed] = [],
        [RunState.Undone] = [],
    };

    /// <summary>The states a run is written with first: admitted, or refused before anything ran.</summary>
    public static IReadOnlyList<RunState> Initial { get; } = [RunState.Running, RunState.Failed];

    public static bool IsAllowed(RunState from, RunState to) => Allowed[from].Contains(to);

    /// <summary>The states of a run still to be carried on (by a resume after a restart).</summary>
    public static IReadOnlyList<RunState> Unfinished { get; } = [RunState.Running, RunState.UndoRunning];

    /// <summary>Whether a run in <paramref name="s"/> is still to be carried on (one of <see cref="Unfinished"/>).</summary>
    public static bool IsUnfinished(RunState s) => Unfinished.Contains(s);

    /// <summary>Why <paramref name="from"/> cannot become <paramref name="to"/>: "run r1 is Undone; it cannot become Running".</summary>
    public static string Refusal(string id, RunState from, RunState to) => from == to
        ? $"run {id} is already {from}"
        : $"run {id} is {from}; it cannot become {to}";

    /// <summary>Sets <paramref name="run"/>'s state to <paramref name="to"/>, or throws if the table does not allow it.</summary>
    /// <exception cref="InvalidOperationException">The move is not in the table (a bug: the run is left as it was).</exception>
    public static void Move(RunRecord run, RunState to)
    {
        if (!IsAllowed(run.State, to)) throw new InvalidOperationException(Refusal(run.Id, run.State, to));
        run.State = to;
    }

    /// <summary>Gives a new run its first state, which must be one of <see cref="Initial"/>.</summary>
    /// <exception cref="InvalidOperationException">A run cannot start in <paramref name="state"/>.</exception>
    public static void Start(RunRecord run, RunState state)
    {
        if (!Initial.Contains(state)) throw new InvalidOperationException($"run {run.Id} cannot start {state}");
        run.State = state;
    }
}
