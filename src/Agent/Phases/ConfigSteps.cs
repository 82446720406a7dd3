using NodeFleet.Agent.Execution;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;
using NodeFleet.Rendering;

namespace NodeFleet.Agent.Phases;

/// <summary>
/// The configuration phases as file steps: containerd-config, crio-config, docker-config and the kubelet drop-in.
/// Rendering is the pure renderers' job; each step writes only on change and names the unit to restart.
/// </summary>
public static class ConfigSteps
{
    private static readonly UnixFileMode Config = NodeFleet.IO.AtomicFile.Public;

    /// <summary>
    /// Mirrors are exclusive: a pull the mirrors cannot serve fails and says so, instead of silently falling back to
    /// the upstream registry (which an offline node cannot reach anyway).
    /// </summary>
    private static IReadOnlyList<MirrorSettings> Mirrors(NodePlan plan) =>
        plan.Spec.Registry?.Mirrors.OrderBy(m => m.Key, StringComparer.Ordinal)
            .Select(m => new MirrorSettings(m.Key, m.Value.Endpoints.ToList(), Exclusive: true)).ToList() ?? [];

    private static Rendering.CgroupDriver Driver(NodePlan plan) => CgroupDrivers.Parse(plan.Spec.Runtime.CgroupDriver);

    public static IReadOnlyList<IStep> Containerd(NodePlan plan)
    {
        var settings = new ContainerdSettings(Driver(plan), PlanImages.SandboxImage(plan).ToString());
        var steps = new List<IStep>
        {
            new WriteFileStep("config-toml", ContainerdConfig.DefaultPath, existing => ContainerdConfig.Render(existing, settings), Config, ["containerd"]),
        };
        steps.AddRange(HostsTomls(plan, settings.CertsDir));
        return steps;
    }

    /// <summary>hosts.toml is read on every pull: no restart needed for mirrors.</summary>
    private static IEnumerable<IStep> HostsTomls(NodePlan plan, string certsDir) =>
        Mirrors(plan).Select(mirror => (IStep)new WriteFileStep($"hosts-toml-{StepSuffix(mirror.Registry)}",
            HostsToml.PathFor(certsDir, mirror.Registry), _ => HostsToml.Render(mirror), Config));

    /// <summary>
    /// The registry configuration the pulls of prepull-images need and that takes effect with no restart, for a plan
    /// whose runtime-configuration phase does not run (a rollout's preparation runs before the node's wave, or the
    /// phase is skipped): containerd's certs.d/&lt;registry&gt;/hosts.toml, which containerd reads on every pull once
    /// config_path names certs.d. Journaled as any write, so undo and reset restore it. cri-o reads its mirror file
    /// only when (re)started, and the Docker port pulls through the plan's mirror itself: nothing to write for them.
    /// </summary>
    public static IReadOnlyList<IStep> PullMirrors(NodePlan plan) =>
        plan.Spec.Runtime.Kind == PlanRuntimes.Containerd && !PlanPhases.Selected(plan).Contains(PlanPhases.ContainerdConfig)
            ? HostsTomls(plan, ContainerdConfig.DefaultCertsDir).ToList()
            : [];

    public static IReadOnlyList<IStep> Crio(NodePlan plan)
    {
        var settings = new CrioSettings(Driver(plan), PlanImages.SandboxImage(plan).ToString());
        var steps = new List<IStep>
        {
            new WriteFileStep("crio-conf-d", CrioDropIn.DefaultPath, _ => CrioDropIn.Render(settings), Config, ["crio"]),
        };
        var mirrors = Mirrors(plan);
        if (mirrors.Count > 0)
            steps.Add(new WriteFileStep("registries-conf-d", CrioMirrors.DefaultPath, _ => CrioMirrors.Render(mirrors), Config, ["crio"]));
        return steps;
    }

    public static IReadOnlyList<IStep> Docker(NodePlan plan)
    {
        var settings = new DockerSettings(Driver(plan), Mirrors(plan));
        return [new WriteFileStep("daemon-json", DockerDaemonJson.DefaultPath, existing => DockerDaemonJson.Render(existing, settings), Config, ["docker"])];
    }

    public static IStep KubeletDropIn(NodePlan plan)
    {
        var spec = plan.Spec;
        // The kubelet reaches Docker through cri-dockerd, not through the Engine API socket the agent uses.
        var endpoint = spec.Runtime.Kind == PlanRuntimes.Docker ? "unix:///var/run/cri-dockerd.sock" : spec.Runtime.Endpoint;
        var settings = new KubeletDropInSettings(spec.KubernetesVersion, endpoint, Driver(plan),
            spec.Kubelet?.ExtraArgs.ToDictionary(kv => kv.Key, kv => kv.Value) ?? new Dictionary<string, string>());
        var name = spec.Kubelet?.DropInName is { Length: > 0 } n ? n : Rendering.KubeletDropIn.DefaultName;
        return new WriteFileStep("drop-in", Rendering.KubeletDropIn.PathFor(name), _ => Rendering.KubeletDropIn.Render(settings), Config,
            ["kubelet"], needsDaemonReload: true);
    }

    private static string StepSuffix(string registry) =>
        new string(registry.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-').ToArray());
}
