namespace NodeFleet.Agent.Execution;

/// <summary>What a step's check found: nothing to do, something to do (described), or a reason it cannot proceed.</summary>
public abstract record CheckResult
{
    public sealed record Satisfied(string Note = "") : CheckResult;

    /// <summary>Actions in dry-run wording ("would write /etc/x", a diff, "would restart containerd").</summary>
    public sealed record NeedsApply(IReadOnlyList<string> Actions) : CheckResult
    {
        public NeedsApply(params string[] actions) : this((IReadOnlyList<string>)actions) { }
    }

    public sealed record Blocked(string Reason) : CheckResult;
}

/// <summary>
/// A small unit of a phase: Check (read-only, the whole of dry-run), Apply (changes through the context, which
/// journals backups first), Verify. "Already done" is success, so re-running after a crash is a no-op.
/// </summary>
public interface IStep
{
    /// <summary>Stable kebab-case id within its phase.</summary>
    string Id { get; }

    Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct);

    Task ApplyAsync(StepContext ctx, CancellationToken ct);

    /// <summary>Null when the applied change holds, else what is wrong.</summary>
    Task<string?> VerifyAsync(StepContext ctx, CancellationToken ct) => Task.FromResult<string?>(null);

    /// <summary>Units whose configuration this step changes: restart-services restarts them when it applied.</summary>
    IReadOnlyList<string> Affects => [];

    /// <summary>Whether a change by this step needs `systemctl daemon-reload` (unit files, drop-ins).</summary>
    bool NeedsDaemonReload => false;

    /// <summary>
    /// Set by a step whose change undo cannot revert (it is not files NodeFleet wrote: kubeadm's): why, journaled
    /// with the step, so an undone run says so instead of showing the step undone.
    /// </summary>
    string? UndoNote => null;
}

/// <summary>A named phase of a plan: its steps in order, and whether it disrupts the node's workloads.</summary>
public sealed record Phase(string Id, bool Disruptive, IReadOnlyList<IStep> Steps);

/// <summary>A step that failed, with its position; the executor stops the plan on it.</summary>
public sealed class StepFailedException(string message, Exception? inner = null) : Exception(message, inner);
