using Google.Protobuf;
using Microsoft.Extensions.Logging;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Whether a plan sent to this node runs, and as which run: refused (a failed run that is reported), the same plan's
/// unfinished run resumed, an ended run reported again, or a new run journaled with all its steps pending. Changes
/// when the rules for accepting a plan change; nothing of a plan runs here.
/// </summary>
/// <param name="signers">The plan signer pins this node holds now (agent.yaml planSigners); empty: plans need no signature.</param>
public sealed class PlanAdmission(Journal journal, PhaseCatalog catalog, IRunObserver observer, TimeProvider time, ILogger log,
    Func<IReadOnlyCollection<string>> signers)
{
    /// <summary>The run a request ends up as, and whether the driver is to carry it on (false: it is already reported).</summary>
    public readonly record struct Decision(RunRecord Run, bool Execute);

    /// <summary>Decides what <paramref name="plan"/> becomes; a different plan's unfinished run is a <see cref="StepFailedException"/>.</summary>
    public Decision Admit(NodePlan plan, PlanExecutor.Options options)
    {
        // A plan this agent refuses (one a coordinator of another version took, say) ends as a failed run that is
        // reported, not as a log line: the coordinator, and a rollout waiting on the node, learn why.
        if (PlanErrors(plan) is { } invalid) return new Decision(Refused(plan, options, invalid), false);
        // Checked here, on the node, whoever sent the plan: a coordinator in other hands can send anything but a
        // signature by a key it does not hold.
        if (SignatureError(plan) is { } unsigned) return new Decision(Refused(plan, options, unsigned), false);
        plan = Validated(plan);
        var digest = PlanIdentity.Digest(plan);
        var unfinished = journal.Unfinished();
        if (unfinished is not null)
        {
            if (unfinished.PlanName != plan.Metadata.Name || unfinished.Digest != digest)
                throw new StepFailedException(
                    $"run {unfinished.Id} of plan {unfinished.PlanName} is unfinished; it must finish (the agent resumes it) before another plan is applied");
            log.LogInformation("Resuming run {Run} of plan {Plan}", unfinished.Id, unfinished.PlanName);
            return new Decision(unfinished, true);
        }
        var latest = journal.LatestRun(plan.Metadata.Name);
        // A rollout's request sent again (after a coordinator restart) must not run a failed plan a second time.
        if (latest is { State: RunState.Failed or RunState.Undone } && latest.Digest == digest && options.RolloutId.Length > 0
            && latest.RolloutId == options.RolloutId && latest.Stage == options.Stage)
        {
            log.LogInformation("Run {Run} of rollout {Rollout} already ended {State}; reporting it again", latest.Id, latest.RolloutId, latest.State);
            observer.RunChanged(latest);
            return new Decision(latest, false);
        }
        if (latest is { State: RunState.Succeeded } && latest.Digest == digest)
        {
            log.LogInformation("Plan {Plan} ({Digest}) is already applied by run {Run}", plan.Metadata.Name, digest[..12], latest.Id);
            // Said again, so a coordinator that asks twice (after its own restart, or for another rollout of the same
            // plan) learns the outcome — on behalf of whoever asked this time.
            observer.RunChanged(latest.AskedBy(options.RolloutId, options.Stage));
            return new Decision(latest, false);
        }
        return new Decision(Started(plan, digest, options), true);
    }

    /// <summary>A new run of <paramref name="plan"/>, journaled with every step pending before anything runs.</summary>
    private RunRecord Started(NodePlan plan, string digest, PlanExecutor.Options options)
    {
        var run = new RunRecord
        {
            Id = NewRunId(plan.Metadata.Name),
            PlanName = plan.Metadata.Name,
            Generation = plan.Metadata.Generation,
            Digest = digest,
            Plan = plan.ToByteArray(),
            StartedAt = time.GetUtcNow().UtcDateTime,
            IgnorePreflightErrors = options.IgnorePreflightErrors.ToList(),
            RolloutId = options.RolloutId,
            Stage = options.Stage,
            KubeadmAction = options.KubeadmAction,
        };
        RunTransitions.Start(run, RunState.Running);
        var phases = catalog.Build(plan, options.KubeadmAction);
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
            observer.RunChanged(run);
        });
        log.LogInformation("Applying plan {Plan} as run {Run}: {Phases}", run.PlanName, run.Id, string.Join(", ", phases.Select(p => p.Id)));
        return run;
    }

    private RunRecord Refused(NodePlan plan, PlanExecutor.Options options, string errors)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var name = plan.Metadata?.Name is { Length: > 0 } n ? n : "plan";
        var run = new RunRecord
        {
            Id = NewRunId(name),
            PlanName = name,
            Generation = plan.Metadata?.Generation ?? 0,
            Plan = plan.ToByteArray(),
            StartedAt = now,
            FinishedAt = now,
            Error = "refused by this agent, nothing done: " + errors.Replace(":\n", ": ", StringComparison.Ordinal).Replace("\n", "; ", StringComparison.Ordinal),
            IgnorePreflightErrors = options.IgnorePreflightErrors.ToList(),
            RolloutId = options.RolloutId,
            Stage = options.Stage,
        };
        RunTransitions.Start(run, RunState.Failed);
        journal.Write(j => j.Runs.Insert(run));
        log.LogError("Plan {Plan} {Error}", name, run.Error);
        observer.RunChanged(run);
        return run;
    }

    /// <summary>Why the node's signer pins refuse <paramref name="plan"/>, or null; pins that cannot be read refuse every plan.</summary>
    private string? SignatureError(NodePlan plan)
    {
        IReadOnlyCollection<string> pins;
        try { pins = signers(); }
        catch (Exception e) when (e is NodeFleet.Agent.Join.AgentException or IOException or UnauthorizedAccessException)
        {
            return $"this node's plan signer pins cannot be read, so no plan runs: {e.Message}";
        }
        return NodeFleet.Plans.PlanSignatures.VerifyError(plan, pins);
    }

    /// <summary>PLAN-YYYYMMDDHHMMSS-6 hex digits: readable in logs, unique on this node.</summary>
    private string NewRunId(string planName) => $"{planName}-{time.GetUtcNow():yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>The plan with defaults filled in, or an error listing everything wrong with it; nothing runs before this.</summary>
    public static NodePlan Validated(NodePlan plan)
    {
        if (PlanErrors(plan) is { } errors) throw new StepFailedException(errors);
        plan = plan.Clone();
        NodeFleet.Plans.PlanDefaults.Apply(plan);
        return plan;
    }

    /// <summary>"invalid plan:" and everything wrong with <paramref name="plan"/>, or null; for new plans and stored ones alike.</summary>
    public static string? PlanErrors(NodePlan plan)
    {
        var errors = NodeFleet.Plans.PlanValidator.Validate(plan);
        return errors.Count > 0 ? "invalid plan:\n" + string.Join('\n', errors) : null;
    }
}
