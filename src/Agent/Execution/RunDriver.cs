using Google.Protobuf;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Carries a run on from its first unfinished step to the end, journaling every step before acting on it: check,
/// apply, verify, under each phase's timeout. A failed step, a timeout or the operator's cancel fails the run and
/// hands it to <see cref="RunUndo"/>. Changes when the way a step is executed changes.
/// </summary>
public sealed class RunDriver(
    Journal journal,
    HostFiles files,
    BackupStore backups,
    IServiceManager services,
    ImageServiceFactory images,
    CommandRunner commands,
    PhaseCatalog catalog,
    IRunObserver observer,
    Failpoints failpoints,
    RunUndo undo,
    TimeProvider time,
    ILogger log)
{
    private readonly object _cancelGate = new();
    private (string RunId, CancellationTokenSource Cancel)? _running;
    private string _cancelReason = "";

    /// <summary>
    /// Stops the run <paramref name="runId"/> at its current step, if it is the one executing (its undo is not
    /// stopped): the run fails with "cancelled by the operator" and is undone. False when no such run is executing.
    /// </summary>
    public bool CancelRun(string runId, string reason)
    {
        lock (_cancelGate)
        {
            if (_running is not { } r || r.RunId != runId) return false;
            _cancelReason = reason;
            r.Cancel.Cancel();
            return true;
        }
    }

    private string CancelledMessage()
    {
        lock (_cancelGate) return "cancelled by the operator" + (_cancelReason.Length > 0 ? $": {_cancelReason}" : "");
    }

    /// <summary>Carries <paramref name="run"/> on where the journal says it stands (running or undoing); the run as it ended.</summary>
    public async Task<RunRecord> ContinueAsync(RunRecord run, CancellationToken ct)
    {
        if (run.State == RunState.UndoRunning)
        {
            await undo.UndoAsync(run, ct);
            return journal.Runs.FindById(run.Id);
        }
        // The journal is data on disk like any other: the plan it holds is checked as a new plan would be before
        // anything of it runs again.
        NodePlan plan;
        try { plan = NodePlan.Parser.ParseFrom(run.Plan); }
        catch (InvalidProtocolBufferException e)
        {
            await FailAsync(run, null, $"the stored plan of run {run.Id} cannot be read ({e.Message}); it is not executed", ct);
            return journal.Runs.FindById(run.Id);
        }
        if (PlanAdmission.PlanErrors(plan) is { } errors)
        {
            await FailAsync(run, null, $"the stored plan of run {run.Id} is not executed: {errors}", ct);
            return journal.Runs.FindById(run.Id);
        }
        var phases = catalog.Build(plan, run.KubeadmAction);
        var records = journal.StepsOf(run.Id).ToDictionary(s => (s.Phase, s.Step));
        using var cancel = new CancellationTokenSource();
        lock (_cancelGate) _running = (run.Id, cancel);
        try
        {
            foreach (var phase in phases)
            {
                using var phaseCts = CancellationTokenSource.CreateLinkedTokenSource(ct, cancel.Token);
                if (plan.Spec.Timeouts.TryGetValue(phase.Id, out var timeout)) phaseCts.CancelAfter(timeout.ToTimeSpan());
                foreach (var step in phase.Steps)
                {
                    var record = records[(phase.Id, step.Id)];
                    if (record.State is StepState.Succeeded or StepState.Skipped) continue;
                    try
                    {
                        // A step that does not watch the token still stops the run before the next one.
                        phaseCts.Token.ThrowIfCancellationRequested();
                        await RunStepAsync(run, phase, step, record, phaseCts.Token);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        var message = cancel.IsCancellationRequested ? CancelledMessage()
                            : e is OperationCanceledException ? $"phase {phase.Id} exceeded its timeout of {plan.Spec.Timeouts[phase.Id].ToTimeSpan()}"
                            : e.Message;
                        await FailAsync(run, record, $"error execution phase {phase.Id}/{step.Id}: {message}", ct);
                        return journal.Runs.FindById(run.Id);
                    }
                }
            }
        }
        finally
        {
            lock (_cancelGate) _running = null;
        }
        journal.Write(j =>
        {
            run = j.Runs.FindById(run.Id);
            RunTransitions.Move(run, RunState.Succeeded);
            run.FinishedAt = time.GetUtcNow().UtcDateTime;
            j.Runs.Update(run);
            observer.RunChanged(run);
        });
        log.LogInformation("Plan {Plan} applied (run {Run})", run.PlanName, run.Id);
        return run;
    }

    private async Task RunStepAsync(RunRecord run, Phase phase, IStep step, StepRecord record, CancellationToken ct)
    {
        using var scope = log.BeginScope(new Dictionary<string, object> { ["Plan"] = run.PlanName, ["Phase"] = phase.Id, ["Step"] = step.Id });
        record.State = StepState.Running;
        record.StartedAt ??= time.GetUtcNow().UtcDateTime;
        // The transition and its report in one transaction: one commit and one flush to the disk, before acting.
        journal.Write(j =>
        {
            j.Steps.Update(record);
            observer.StepChanged(run, record);
        });

        var ctx = Context(NodePlan.Parser.ParseFrom(run.Plan), journal.Runs.FindById(run.Id), record, message =>
        {
            record.Message = message;
            observer.StepChanged(run, record);
        });
        CheckResult check;
        var changed = false;
        try
        {
            check = await step.CheckAsync(ctx, ct);
            switch (check)
            {
                case CheckResult.Blocked b:
                    throw new StepFailedException(b.Reason);
                case CheckResult.NeedsApply:
                    // The intent is journaled before acting: after a crash the restart still happens.
                    if (step.Affects.Count > 0 || step.NeedsDaemonReload)
                    {
                        foreach (var unit in step.Affects) ctx.RequireRun().MarkUnitChanged(unit);
                        if (step.NeedsDaemonReload) ctx.RequireRun().SetDaemonReloadNeeded(true);
                    }
                    failpoints.Hit(phase.Id, step.Id, "before-apply");
                    await step.ApplyAsync(ctx, ct);
                    failpoints.Hit(phase.Id, step.Id, "after-apply");
                    var problem = await step.VerifyAsync(ctx, ct);
                    if (problem is not null) throw new StepFailedException($"verification failed: {problem}");
                    changed = true;
                    break;
            }
        }
        catch
        {
            // The failed step keeps its output for on-call (e.g. the preflight findings).
            record.OutputTail = ctx.OutputTail();
            throw;
        }
        record.State = StepState.Succeeded;
        record.Changed = changed;
        record.UndoNote = changed ? step.UndoNote ?? "" : "";
        record.FinishedAt = time.GetUtcNow().UtcDateTime;
        record.Message = check is CheckResult.Satisfied s ? (s.Note.Length > 0 ? s.Note : "satisfied") : "applied";
        record.OutputTail = ctx.OutputTail();
        journal.Write(j =>
        {
            j.Steps.Update(record);
            observer.StepChanged(run, record);
        });
        failpoints.Hit(phase.Id, step.Id, "after-step");
    }

    /// <summary>Fails the run (at <paramref name="record"/>, or as a whole when no step is to blame) and undoes it.</summary>
    private async Task FailAsync(RunRecord run, StepRecord? record, string message, CancellationToken ct)
    {
        log.LogError("{Message}", message);
        journal.Write(j =>
        {
            if (record is not null)
            {
                record.State = StepState.Failed;
                record.FinishedAt = time.GetUtcNow().UtcDateTime;
                record.Message = message;
                j.Steps.Update(record);
            }
            run = j.Runs.FindById(run.Id);
            RunTransitions.Move(run, RunState.UndoRunning);
            run.Error = message;
            j.Runs.Update(run);
            if (record is not null) observer.StepChanged(run, record);
        });
        await undo.UndoAsync(run, ct);
    }

    private StepContext Context(NodePlan plan, RunRecord run, StepRecord record, Action<string> progress)
    {
        var scope = new RunScope(journal, backups, files, run.Id, record.Id, time);
        return new StepContext(plan, files, services, images.For(plan), commands, time, log)
        {
            Run = scope,
            IgnorePreflightErrors = run.IgnorePreflightErrors,
            ChangedUnits = new HashSet<string>(run.ChangedUnits),
            RestartedUnits = new HashSet<string>(run.RestartedUnits),
            DaemonReloadNeeded = run.DaemonReloadNeeded,
            OnProgress = progress,
        };
    }
}
