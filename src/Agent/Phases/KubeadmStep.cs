using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Config;
using NodeFleet.IO;
using NodeFleet.Plans;

namespace NodeFleet.Agent.Phases;

/// <summary>
/// The `kubeadm` phase: runs the one kubeadm command the apply names (ApplyPlan.kubeadm_action) as an argument array
/// through the allow-listed command runner, kubeadm found under the root (/usr/bin/kubeadm, or where the plan's
/// artifact named kubeadm installs it). Its output's tail is the step's output. An apply with no action skips it.
/// </summary>
public sealed class KubeadmStep(string action) : IStep
{
    /// <summary>How long kubeadm may run when spec.timeouts has no kubeadm entry; its own waits are 5 minutes each.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(30);

    /// <summary>kubeadm join writes it; a node that has it has joined a cluster already.</summary>
    public const string KubeletKubeconfig = "/etc/kubernetes/kubelet.conf";

    // The JoinConfiguration holds a bootstrap token: no one but its owner (root) and at most a group may read it,
    // no one else may change it.
    private const UnixFileMode RefusedConfigBits =
        UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The step is named for its action ("upgrade-node"), or "none" when the apply carries none.</summary>
    public string Id => action.Length == 0 ? "none" : action;

    /// <summary>Why a run that did this cannot be undone by NodeFleet: kubeadm's changes are not files NodeFleet wrote.</summary>
    public string? UndoNote => action switch
    {
        PlanKubeadm.ActionJoin => "not undone: NodeFleet cannot undo kubeadm join (the node stays in the cluster; `kubeadm reset` and deleting the Node object remove it)",
        "" => null,
        _ => "not undone: NodeFleet cannot undo a kubeadm upgrade (kubeadm rewrote the static Pod manifests, certificates and kubelet configuration itself; "
            + "its backups of them and of etcd are under /etc/kubernetes/tmp; kubeadm has no downgrade)",
    };

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct) => Task.FromResult(Check(ctx));

    private CheckResult Check(StepContext ctx)
    {
        if (action.Length == 0)
            return new CheckResult.Satisfied("skipped: this apply names no kubeadm action (the coordinator sends one for a plan with spec.kubeadm; "
                + "nodefleet-agent apply takes --kubeadm-action)");
        var spec = ctx.Plan.Spec;
        if (PlanKubeadm.Arguments(action, spec, out var error) is not { } args) return new CheckResult.Blocked(error);
        var binary = PlanKubeadm.BinaryPath(spec);
        var installed = spec.Artifacts.Any(a => a.Name == PlanKubeadm.ArtifactName && a.InstallPath.Length > 0);
        if (!installed && ctx.Files.Stat(binary).Kind is not (EntryKind.File or EntryKind.SymbolicLink))
            return new CheckResult.Blocked($"kubeadm is not installed at {binary}: install it, or list an artifact named kubeadm in the plan");
        if (action == PlanKubeadm.ActionJoin)
        {
            if (ctx.Files.Stat(KubeletKubeconfig).Kind != EntryKind.Absent)
                return new CheckResult.Satisfied($"already joined: {KubeletKubeconfig} exists");
            if (JoinConfigProblem(ctx, spec.Kubeadm.ConfigFile) is { } problem) return new CheckResult.Blocked(problem);
        }
        return new CheckResult.NeedsApply($"would run {binary} {string.Join(' ', args)}");
    }

    private static string? JoinConfigProblem(StepContext ctx, string file)
    {
        var entry = ctx.Files.Stat(file);
        return entry.Kind switch
        {
            EntryKind.Absent => $"the kubeadm join configuration {file} does not exist on this node (spec.kubeadm.configFile)",
            EntryKind.File when (entry.Mode & RefusedConfigBits) != 0 =>
                $"{file} is mode {Convert.ToString((int)entry.Mode, 8).PadLeft(4, '0')}: it holds a bootstrap token, make it 0600 (or 0640) so others cannot read it",
            EntryKind.File => null,
            _ => $"{file} is not a regular file (a {entry.Kind.ToString().ToLowerInvariant()}): name the file itself",
        };
    }

    public async Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        var spec = ctx.Plan.Spec;
        var args = PlanKubeadm.Arguments(action, spec, out var error) ?? throw new StepFailedException(error);
        var binary = PlanKubeadm.BinaryPath(spec);
        var timeout = spec.Timeouts.TryGetValue(PlanPhases.Kubeadm, out var t) && ProtoDurations.ToSpan(t) is { } span ? span : DefaultTimeout;
        var command = PlanKubeadm.CommandLine(args);
        ProcessRunner.Result result;
        try
        {
            result = await ctx.Commands.RunAsync(binary, args, timeout, ct);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new StepFailedException($"cannot run {binary}: {e.Message}", e);
        }
        catch (TimeoutException)
        {
            throw new StepFailedException($"{command} did not finish within {Durations.Format(timeout)}; it was stopped");
        }
        foreach (var line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)) ctx.Output(line.TrimEnd('\r'));
        if (result.ExitCode != 0)
        {
            var said = Lines.OneLine(Said(result.Output));
            throw new StepFailedException($"{command} exited {result.ExitCode}" + (said.Length > 0 ? $": {said}" : " without a message"));
        }
        ctx.Output($"{command}: done");
    }

    /// <summary>
    /// kubeadm's own error line ("error execution phase preflight: …", "Error: unknown flag: …"), else its last line;
    /// the whole output is in the step's output either way.
    /// </summary>
    private static string Said(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.FirstOrDefault(l => l.StartsWith("error", StringComparison.OrdinalIgnoreCase)) ?? lines.LastOrDefault() ?? "";
    }
}
