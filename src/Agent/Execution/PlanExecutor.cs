using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// The agent's entry to plan runs — apply, resume, cancel, undo, reset and dry run — wired from the host ports. Each
/// is done by a part that changes for one reason: <see cref="PlanAdmission"/> (refuse, resume, report again or start),
/// <see cref="RunDriver"/> (steps, timeouts, cancel), <see cref="RunUndo"/>, <see cref="NodeReset"/> and
/// <see cref="DryRun"/>; a run's states move only as <see cref="RunTransitions"/> allows. Every transition is journaled
/// before it is acted on, so an agent restarted at any moment resumes at the first unfinished step.
/// </summary>
public sealed class PlanExecutor
{
    /// <summary>How a plan is applied; <paramref name="KubeadmAction"/> is what its kubeadm phase runs ("" skips it).</summary>
    public sealed record Options(IReadOnlyCollection<string> IgnorePreflightErrors, string RolloutId = "", string Stage = "", string KubeadmAction = "");

    /// <summary>One line of a dry run: the step, what its check found, and what would be done.</summary>
    public sealed record DryRunEntry(string Phase, string Step, string Outcome, IReadOnlyList<string> Actions);

    private readonly Journal _journal;
    private readonly PlanAdmission _admission;
    private readonly RunDriver _driver;
    private readonly RunUndo _undo;
    private readonly NodeReset _reset;
    private readonly DryRun _dryRun;
    private readonly ILogger _log;

    public PlanExecutor(Journal journal, HostFiles files, BackupStore backups, IServiceManager services, ImageServiceFactory images,
        CommandRunner commands, PhaseCatalog catalog, IRunObserver observer, Failpoints failpoints, TimeProvider time,
        ILogger<PlanExecutor> log)
    {
        _journal = journal;
        _log = log;
        var restore = new JournalRestore(files, backups);
        _admission = new PlanAdmission(journal, catalog, observer, time, log);
        _undo = new RunUndo(journal, services, restore, observer, time, log);
        _driver = new RunDriver(journal, files, backups, services, images, commands, catalog, observer, failpoints, _undo, time, log);
        _reset = new NodeReset(journal, files, services, restore);
        _dryRun = new DryRun(files, services, images, commands, catalog, time, log);
    }

    /// <summary>Applies <paramref name="plan"/>, resuming the same plan's unfinished run if there is one.</summary>
    public async Task<RunRecord> ApplyAsync(NodePlan plan, Options options, CancellationToken ct)
    {
        var (run, execute) = _admission.Admit(plan, options);
        return execute ? await _driver.ContinueAsync(run, ct) : run;
    }

    /// <summary>Finishes the run a crash or restart interrupted, if any.</summary>
    public async Task<RunRecord?> ResumeAsync(CancellationToken ct)
    {
        var run = _journal.Unfinished();
        if (run is null) return null;
        _log.LogInformation("Resuming run {Run} of plan {Plan} after a restart", run.Id, run.PlanName);
        return await _driver.ContinueAsync(run, ct);
    }

    /// <inheritdoc cref="RunDriver.CancelRun"/>
    public bool CancelRun(string runId, string reason) => _driver.CancelRun(runId, reason);

    /// <inheritdoc cref="RunUndo.UndoRunAsync"/>
    public Task<RunRecord> UndoRunAsync(string runId, CancellationToken ct) => _undo.UndoRunAsync(runId, ct);

    /// <inheritdoc cref="NodeReset.ResetAsync"/>
    public Task<IReadOnlyList<string>> ResetAsync(bool dryRun, CancellationToken ct) => _reset.ResetAsync(dryRun, ct);

    /// <summary>Checks every step without changing anything.</summary>
    public Task<IReadOnlyList<DryRunEntry>> DryRunAsync(NodePlan plan, Options options, CancellationToken ct) =>
        _dryRun.RunAsync(plan, options, ct);
}
