using Google.Protobuf;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Runs a plan's phases step by step, journaling every transition before acting on it. Restarted at any moment it
/// resumes at the first unfinished step; a failed step stops the plan and undoes what the run changed.
/// </summary>
public sealed partial class PlanExecutor(
    Journal journal,
    HostFiles files,
    BackupStore backups,
    IServiceManager services,
    ImageServiceFactory images,
    CommandRunner commands,
    PhaseCatalog catalog,
    IRunObserver observer,
    Failpoints failpoints,
    TimeProvider time,
    ILogger<PlanExecutor> log)
{
    public sealed record Options(IReadOnlyCollection<string> IgnorePreflightErrors, string RolloutId = "", string Stage = "");

    /// <summary>One line of a dry run: the step, what its check found, and what would be done.</summary>
    public sealed record DryRunEntry(string Phase, string Step, string Outcome, IReadOnlyList<string> Actions);

    /// <summary>Applies <paramref name="plan"/>, resuming the same plan's unfinished run if there is one.</summary>
    public async Task<RunRecord> ApplyAsync(NodePlan plan, Options options, CancellationToken ct)
    {
        // A plan this agent refuses (one a coordinator of another version took, say) ends as a failed run that is
        // reported, not as a log line: the coordinator, and a rollout waiting on the node, learn why.
        if (PlanErrors(plan) is { } invalid) return Refused(plan, options, invalid);
        plan = Validated(plan);
        var digest = PlanIdentity.Digest(plan);
        var unfinished = journal.Unfinished();
        if (unfinished is not null)
        {
            if (unfinished.PlanName != plan.Metadata.Name || unfinished.Digest != digest)
                throw new StepFailedException(
                    $"run {unfinished.Id} of plan {unfinished.PlanName} is unfinished; it must finish (the agent resumes it) before another plan is applied");
            log.LogInformation("Resuming run {Run} of plan {Plan}", unfinished.Id, unfinished.PlanName);
            return await ContinueAsync(unfinished, ct);
        }
        var latest = journal.LatestRun(plan.Metadata.Name);
        // A rollout's request sent again (after a coordinator restart) must not run a failed plan a second time.
        if (latest is { State: RunState.Failed or RunState.Undone } && latest.Digest == digest && options.RolloutId.Length > 0
            && latest.RolloutId == options.RolloutId && latest.Stage == options.Stage)
        {
            log.LogInformation("Run {Run} of rollout {Rollout} already ended {State}; reporting it again", latest.Id, latest.RolloutId, latest.State);
            observer.RunChanged(latest);
            return latest;
        }
        if (latest is { State: RunState.Succeeded } && latest.Digest == digest)
        {
            log.LogInformation("Plan {Plan} ({Digest}) is already applied by run {Run}", plan.Metadata.Name, digest[..12], latest.Id);
            // Said again, so a coordinator that asks twice (after its own restart, or for another rollout of the same
            // plan) learns the outcome — on behalf of whoever asked this time.
            observer.RunChanged(latest.AskedBy(options.RolloutId, options.Stage));
            return latest;
        }

        var run = new RunRecord
        {
            Id = NewRunId(plan.Metadata.Name),
            PlanName = plan.Metadata.Name,
            Generation = plan.Metadata.Generation,
            Digest = digest,
            Plan = plan.ToByteArray(),
            State = RunState.Running,
            StartedAt = time.GetUtcNow().UtcDateTime,
            IgnorePreflightErrors = options.IgnorePreflightErrors.ToList(),
            RolloutId = options.RolloutId,
            Stage = options.Stage,
        };
        var phases = catalog.Build(plan);
        journal.Write(j =>
        {
            j.Runs.Insert(run);
            var index = 0;
            foreach (var phase in phases)
            {
                foreach (var step in phase.Steps)
                {
                    j.Steps.Insert(new StepRecord
                    {
                        Id = $"{run.Id}/{phase.Id}/{step.Id}", RunId = run.Id, Index = index++, Phase = phase.Id, Step = step.Id,
                        State = StepState.Pending,
                    });
                }
            }
        });
        observer.RunChanged(run);
        log.LogInformation("Applying plan {Plan} as run {Run}: {Phases}", run.PlanName, run.Id, string.Join(", ", phases.Select(p => p.Id)));
        return await ContinueAsync(run, ct);
    }

    /// <summary>Undoes a finished run on request (a rollout's rollback); a run already undone is reported again.</summary>
    public async Task<RunRecord> UndoRunAsync(string runId, CancellationToken ct)
    {
        var run = journal.Runs.FindById(runId) ?? throw new StepFailedException($"run {runId} is not in this node's journal");
        if (run.State is RunState.Running or RunState.UndoRunning)
            throw new StepFailedException($"run {runId} is {run.State}; only a finished run can be undone");
        if (run.State is RunState.Undone or RunState.Failed)
        {
            observer.RunChanged(run);
            return run;
        }
        journal.Write(j =>
        {
            run.State = RunState.UndoRunning;
            j.Runs.Update(run);
        });
        observer.RunChanged(run);
        await UndoAsync(run, ct);
        return journal.Runs.FindById(runId);
    }

    /// <summary>PLAN-YYYYMMDDHHMMSS-6 hex digits: readable in logs, unique on this node.</summary>
    private string NewRunId(string planName) => $"{planName}-{time.GetUtcNow():yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}";

    private RunRecord Refused(NodePlan plan, Options options, string errors)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var name = plan.Metadata?.Name is { Length: > 0 } n ? n : "plan";
        var run = new RunRecord
        {
            Id = NewRunId(name),
            PlanName = name,
            Generation = plan.Metadata?.Generation ?? 0,
            Plan = plan.ToByteArray(),
            State = RunState.Failed,
            StartedAt = now,
            FinishedAt = now,
            Error = "refused by this agent, nothing done: " + errors.Replace(":\n", ": ", StringComparison.Ordinal).Replace("\n", "; ", StringComparison.Ordinal),
            IgnorePreflightErrors = options.IgnorePreflightErrors.ToList(),
            RolloutId = options.RolloutId,
            Stage = options.Stage,
        };
        journal.Write(j => j.Runs.Insert(run));
        log.LogError("Plan {Plan} {Error}", name, run.Error);
        observer.RunChanged(run);
        return run;
    }

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

    /// <summary>Finishes the run a crash or restart interrupted, if any.</summary>
    public async Task<RunRecord?> ResumeAsync(CancellationToken ct)
    {
        var run = journal.Unfinished();
        if (run is null) return null;
        log.LogInformation("Resuming run {Run} of plan {Plan} after a restart", run.Id, run.PlanName);
        return await ContinueAsync(run, ct);
    }

    private async Task<RunRecord> ContinueAsync(RunRecord run, CancellationToken ct)
    {
        if (run.State == RunState.UndoRunning)
        {
            await UndoAsync(run, ct);
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
        if (PlanErrors(plan) is { } errors)
        {
            await FailAsync(run, null, $"the stored plan of run {run.Id} is not executed: {errors}", ct);
            return journal.Runs.FindById(run.Id);
        }
        var phases = catalog.Build(plan);
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
            run.State = RunState.Succeeded;
            run.FinishedAt = time.GetUtcNow().UtcDateTime;
            j.Runs.Update(run);
        });
        observer.RunChanged(run);
        log.LogInformation("Plan {Plan} applied (run {Run})", run.PlanName, run.Id);
        return run;
    }

    private async Task RunStepAsync(RunRecord run, Phase phase, IStep step, StepRecord record, CancellationToken ct)
    {
        using var scope = log.BeginScope(new Dictionary<string, object> { ["Plan"] = run.PlanName, ["Phase"] = phase.Id, ["Step"] = step.Id });
        record.State = StepState.Running;
        record.StartedAt ??= time.GetUtcNow().UtcDateTime;
        journal.Write(j => j.Steps.Update(record));
        observer.StepChanged(run, record);

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
        record.FinishedAt = time.GetUtcNow().UtcDateTime;
        record.Message = check is CheckResult.Satisfied s ? (s.Note.Length > 0 ? s.Note : "satisfied") : "applied";
        record.OutputTail = ctx.OutputTail();
        journal.Write(j => j.Steps.Update(record));
        observer.StepChanged(run, record);
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
            run.State = RunState.UndoRunning;
            run.Error = message;
            j.Runs.Update(run);
        });
        if (record is not null) observer.StepChanged(run, record);
        await UndoAsync(run, ct);
    }

    /// <summary>Restores the run's backups in reverse order, reloads systemd if unit files changed, restarts what the run restarted.</summary>
    public async Task UndoAsync(RunRecord run, CancellationToken ct)
    {
        var restored = new List<string>();
        // What could not be done does not stop the undo half way (the run would stay "undoing" and block every later
        // plan): a refused record (a path outside the writable roots, a link on the way, a malformed backup hash) or a
        // failing service manager is added to the run's error, for on-call, and the rest is undone.
        var problems = new List<string>();
        // A rollout's preparation may have written what its pulls needed (a mirror's hosts.toml, which the node's run
        // then found in place): undoing the node's run of that rollout undoes its preparation too, newest first.
        var prepared = run.RolloutId.Length > 0 && run.Stage == "apply"
            ? journal.Runs.Find(r => r.RolloutId == run.RolloutId && r.Stage == "prepare" && r.State == RunState.Succeeded)
                .Where(r => journal.Backups.Exists(b => b.RunId == r.Id)).ToList()
            : [];
        var undone = new[] { run.Id }.Concat(prepared.OrderByDescending(r => r.StartedAt).Select(r => r.Id)).ToList();
        foreach (var b in undone.SelectMany(id => journal.Backups.Find(b => b.RunId == id).OrderByDescending(b => b.Order)).ToList())
        {
            if (b.Restored) continue;
            try { Restore(b.Path, b.Existed, b.ContentSha256, b.Mode, b.LinkTarget); }
            catch (HostPathException e)
            {
                problems.Add($"{b.Path} not undone: {e.Message}");
                continue;
            }
            restored.Add(b.Path);
            b.Restored = true;
            journal.Write(j => j.Backups.Update(b));
        }
        run = journal.Runs.FindById(run.Id);
        if (journal.Backups.Find(b => undone.Contains(b.RunId)).Any(b => b.Path.StartsWith("/etc/systemd/", StringComparison.Ordinal)))
            await TryAsync(() => services.DaemonReloadAsync(ct), problems);
        foreach (var unit in run.RestartedUnits) await TryAsync(() => services.RestartAsync(unit, ct), problems);
        if (problems.Count > 0)
        {
            var undoError = $"undo incomplete: {string.Join("; ", problems)}";
            log.LogError("Run {Run}: {Error}", run.Id, undoError);
            run.Error = run.Error.Length > 0 ? $"{run.Error}; {undoError}" : undoError;
        }
        journal.Write(j =>
        {
            foreach (var s in j.Steps.Find(s => undone.Contains(s.RunId) && s.State == StepState.Succeeded).ToList())
            {
                s.State = StepState.Undone;
                j.Steps.Update(s);
            }
            run.State = run.Error.Length > 0 ? RunState.Failed : RunState.Undone;
            run.FinishedAt = time.GetUtcNow().UtcDateTime;
            j.Runs.Update(run);
            foreach (var p in prepared)
            {
                p.State = RunState.Undone;
                p.FinishedAt = run.FinishedAt;
                j.Runs.Update(p);
            }
        });
        foreach (var p in prepared) observer.RunChanged(p);
        observer.RunChanged(run);
        log.LogWarning("Run {Run} undone: restored {Count} file(s){Units}", run.Id, restored.Count,
            run.RestartedUnits.Count > 0 ? $", restarted {string.Join(", ", run.RestartedUnits)}" : "");
    }

    private static async Task TryAsync(Func<Task> action, List<string> problems)
    {
        try { await action(); }
        catch (ServiceManagerException e) { problems.Add(e.Message); }
    }

    /// <summary>Checks every step without changing anything.</summary>
    public async Task<IReadOnlyList<DryRunEntry>> DryRunAsync(NodePlan plan, Options options, CancellationToken ct)
    {
        plan = Validated(plan);
        var entries = new List<DryRunEntry>();
        var changedUnits = new HashSet<string>();
        var daemonReload = false;
        foreach (var phase in catalog.Build(plan))
        {
            foreach (var step in phase.Steps)
            {
                var ctx = new StepContext(plan, files, services, images.For(plan), commands, time, log)
                {
                    ChangedUnits = changedUnits,
                    RestartedUnits = new HashSet<string>(),
                    DaemonReloadNeeded = daemonReload,
                    IgnorePreflightErrors = options.IgnorePreflightErrors,
                };
                CheckResult check;
                try { check = await step.CheckAsync(ctx, ct); }
                catch (Exception e) when (e is not OperationCanceledException) { check = new CheckResult.Blocked(e.Message); }
                switch (check)
                {
                    case CheckResult.Satisfied s:
                        entries.Add(new DryRunEntry(phase.Id, step.Id, "satisfied", s.Note.Length > 0 ? [s.Note] : []));
                        break;
                    case CheckResult.NeedsApply n:
                        entries.Add(new DryRunEntry(phase.Id, step.Id, "would apply", n.Actions));
                        foreach (var u in step.Affects) changedUnits.Add(u);
                        daemonReload |= step.NeedsDaemonReload;
                        break;
                    case CheckResult.Blocked b:
                        entries.Add(new DryRunEntry(phase.Id, step.Id, NodeFleet.Plans.DryRunVerdict.Blocked, [b.Reason]));
                        break;
                }
            }
        }
        return entries;
    }

    /// <summary>The plan with defaults filled in, or an error listing everything wrong with it; nothing runs before this.</summary>
    private static NodePlan Validated(NodePlan plan)
    {
        if (PlanErrors(plan) is { } errors) throw new StepFailedException(errors);
        plan = plan.Clone();
        NodeFleet.Plans.PlanDefaults.Apply(plan);
        return plan;
    }

    /// <summary>"invalid plan:" and everything wrong with <paramref name="plan"/>, or null; for new plans and stored ones alike.</summary>
    private static string? PlanErrors(NodePlan plan)
    {
        var errors = NodeFleet.Plans.PlanValidator.Validate(plan);
        return errors.Count > 0 ? "invalid plan:\n" + string.Join('\n', errors) : null;
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
