using NodeFleet.Agent.Host;
using NodeFleet.Agent.Phases;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>Turns a plan into its phases and steps, in order: the plan as a readable runbook.</summary>
public sealed class PhaseCatalog(INetwork network, AgentSettings settings)
{
    /// <summary>A catalog whose steps reach the network through <paramref name="http"/>.</summary>
    public PhaseCatalog(HttpClient http, AgentSettings settings) : this(new HostNetwork(http), settings) { }

    /// <summary>
    /// The phases of <paramref name="plan"/> with their steps; the kubeadm phase runs <paramref name="kubeadmAction"/>
    /// (ApplyPlan.kubeadm_action; "" skips it with the reason).
    /// </summary>
    public IReadOnlyList<Phase> Build(NodePlan plan, string kubeadmAction = "")
    {
        var spec = plan.Spec;
        var images = PlanImages.Resolve(plan).Select(i => i.ToString()).ToList();
        var runtimeUnit = RuntimeUnit(spec.Runtime.Kind);
        var phases = new List<Phase>();
        foreach (var id in PlanPhases.Selected(plan))
        {
            IReadOnlyList<IStep> steps = id switch
            {
                PlanPhases.Preflight => [new PreflightStep(network)],
                PlanPhases.StageArtifacts => spec.Artifacts.Select(a => (IStep)new StageArtifactStep(a, network)).ToList(),
                PlanPhases.ContainerdConfig => ConfigSteps.Containerd(plan),
                PlanPhases.CrioConfig => ConfigSteps.Crio(plan),
                PlanPhases.DockerConfig => ConfigSteps.Docker(plan),
                PlanPhases.PrepullImages => [.. ConfigSteps.PullMirrors(plan), new PrepullImagesStep(images, settings.Pull)],
                // kubeadm first, as the kubeadm upgrade guide has it: the kubelet and kubectl follow once kubeadm has run.
                PlanPhases.InstallArtifacts => spec.Artifacts.OrderBy(a => a.Name == PlanKubeadm.ArtifactName ? 0 : 1)
                    .Select(a => (IStep)new InstallArtifactStep(a)).ToList(),
                PlanPhases.Kubeadm => [new KubeadmStep(kubeadmAction)],
                PlanPhases.KubeletConfig => [ConfigSteps.KubeletDropIn(plan), new DaemonReloadStep()],
                PlanPhases.RestartServices => [new RestartUnitStep(runtimeUnit), new RestartUnitStep("kubelet")],
                PlanPhases.Verify => [new VerifyRuntimeStep(), new VerifyKubeletStep(network, settings.KubeletHealthz), new VerifyImagesStep(images)],
                _ => throw new InvalidOperationException($"unknown phase {id}"),
            };
            phases.Add(new Phase(id, PlanPhases.IsDisruptive(id), steps));
        }
        return phases;
    }

    /// <summary>The systemd unit of a runtime kind.</summary>
    public static string RuntimeUnit(string kind) => kind switch
    {
        PlanRuntimes.CriO => "crio",
        PlanRuntimes.Docker => "docker",
        _ => "containerd",
    };
}

/// <summary>Agent settings that steps need (from `run`/`apply` options).</summary>
public sealed record AgentSettings
{
    public string KubeletHealthz { get; init; } = "http://127.0.0.1:10248/healthz";
    public PullSettings Pull { get; init; } = new();
}
