using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// A plan's dry run: every step's check, nothing applied and nothing journaled. What earlier steps would change
/// (units, daemon-reload) is carried to the later steps' checks, as a real run would.
/// </summary>
public sealed class DryRun(HostFiles files, IServiceManager services, ImageServiceFactory images, CommandRunner commands,
    PhaseCatalog catalog, TimeProvider time, ILogger log)
{
    /// <summary>Checks every step of <paramref name="plan"/>; an invalid plan is a <see cref="StepFailedException"/> listing what is wrong.</summary>
    public async Task<IReadOnlyList<PlanExecutor.DryRunEntry>> RunAsync(NodePlan plan, PlanExecutor.Options options, CancellationToken ct)
    {
        plan = PlanAdmission.Validated(plan);
        var entries = new List<PlanExecutor.DryRunEntry>();
        var changedUnits = new HashSet<string>();
        var daemonReload = false;
        foreach (var phase in catalog.Build(plan, options.KubeadmAction))
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
                        entries.Add(new PlanExecutor.DryRunEntry(phase.Id, step.Id, "satisfied", s.Note.Length > 0 ? [s.Note] : []));
                        break;
                    case CheckResult.NeedsApply n:
                        entries.Add(new PlanExecutor.DryRunEntry(phase.Id, step.Id, "would apply", n.Actions));
                        foreach (var u in step.Affects) changedUnits.Add(u);
                        daemonReload |= step.NeedsDaemonReload;
                        break;
                    case CheckResult.Blocked b:
                        entries.Add(new PlanExecutor.DryRunEntry(phase.Id, step.Id, NodeFleet.Plans.DryRunVerdict.Blocked, [b.Reason]));
                        break;
                }
            }
        }
        return entries;
    }
}
