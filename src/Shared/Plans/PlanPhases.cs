using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>
/// The phase ids of a node plan, in the order they run. The ids are stable: protos, the journal, logs, metrics,
/// spec.timeouts, spec.skipPhases and the CLI all use them verbatim.
/// </summary>
public static class PlanPhases
{
    public const string Preflight = "preflight";
    public const string StageArtifacts = "stage-artifacts";
    public const string ContainerdConfig = "containerd-config";
    public const string CrioConfig = "crio-config";
    public const string DockerConfig = "docker-config";
    public const string PrepullImages = "prepull-images";
    public const string InstallArtifacts = "install-artifacts";
    public const string Kubeadm = "kubeadm";
    public const string KubeletConfig = "kubelet-config";
    public const string RestartServices = "restart-services";
    public const string Verify = "verify";

    /// <summary>Not a phase: the spec.timeouts key of the coordinator's wait for a node in a cluster to be Ready after its run.</summary>
    public const string WaitReadyTimeout = "wait-ready";

    /// <summary>Every phase id, in run order.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        Preflight, StageArtifacts, ContainerdConfig, CrioConfig, DockerConfig, PrepullImages,
        InstallArtifacts, Kubeadm, KubeletConfig, RestartServices, Verify,
    ];

    /// <summary>
    /// The non-disruptive phases: they check, download and pull, and change nothing a running workload depends on,
    /// so they can run ahead of a maintenance window ("prepare").
    /// </summary>
    public static IReadOnlyList<string> Prepare { get; } = [Preflight, StageArtifacts, PrepullImages];

    /// <summary>The phases that change what runs on the node (runtime config, binaries, kubelet, restarts), in run order.</summary>
    public static IReadOnlyList<string> Disruptive { get; } = All.Except(Prepare).ToList();

    public static bool IsKnown(string id) => All.Contains(id);

    public static bool IsDisruptive(string id) => IsKnown(id) && !Prepare.Contains(id);

    /// <summary>The runtime-configuration phase for a runtime kind ("containerd" → containerd-config), or null.</summary>
    public static string? ConfigPhaseFor(string runtimeKind) => runtimeKind switch
    {
        PlanRuntimes.Containerd => ContainerdConfig,
        PlanRuntimes.CriO => CrioConfig,
        PlanRuntimes.Docker => DockerConfig,
        _ => null,
    };

    /// <summary>
    /// The phases <paramref name="plan"/> runs, in order: all of them except those in spec.skipPhases, the
    /// configuration phases of the other runtimes, and kubeadm when the plan has no spec.kubeadm.
    /// </summary>
    public static IReadOnlyList<string> Selected(NodePlan plan)
    {
        var spec = plan.Spec ?? new NodePlanSpec();
        var own = ConfigPhaseFor(spec.Runtime?.Kind ?? "");
        var runtimePhases = new[] { ContainerdConfig, CrioConfig, DockerConfig };
        return All
            .Where(id => !spec.SkipPhases.Contains(id))
            .Where(id => !runtimePhases.Contains(id) || id == own)
            .Where(id => id != Kubeadm || (spec.Kubeadm?.Mode ?? "").Length > 0)
            .ToList();
    }
}

/// <summary>The container runtimes a plan can configure, and where each listens by default.</summary>
public static class PlanRuntimes
{
    public const string Containerd = "containerd";
    public const string CriO = "cri-o";
    public const string Docker = "docker";

    public static IReadOnlyList<string> All { get; } = [Containerd, CriO, Docker];

    /// <summary>The CRI (or Docker Engine) socket a runtime listens on when spec.runtime.endpoint is empty.</summary>
    public static string? DefaultEndpoint(string kind) => kind switch
    {
        Containerd => "unix:///run/containerd/containerd.sock",
        CriO => "unix:///var/run/crio/crio.sock",
        Docker => "unix:///var/run/docker.sock",
        _ => null,
    };

    public const string CgroupSystemd = "systemd";
    public const string CgroupCgroupfs = "cgroupfs";

    public static IReadOnlyList<string> CgroupDrivers { get; } = [CgroupSystemd, CgroupCgroupfs];
}
