using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.FleetSim;

/// <summary>The plans the scenarios roll out.</summary>
public static class SimPlans
{
    /// <summary>Preflight only, its errors ignored: every step is already satisfied on every node (a no-op run).</summary>
    public static NodePlan Noop(string name) => Load($"""
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: {name}
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: containerd
          skipPhases: [stage-artifacts, containerd-config, prepull-images, install-artifacts, kubelet-config, restart-services, verify]
        """);

    /// <summary>
    /// A kubelet drop-in (then daemon-reload), containerd's config.toml and a mirror (certs.d/registry.k8s.io/hosts.toml),
    /// and restarts of containerd and the kubelet (recorded). No preflight, pull or verify: there is no runtime to ask.
    /// </summary>
    public static NodePlan Config(string name, int maxPods = 110) => Load($"""
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: {name}
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: containerd
            cgroupDriver: systemd
          registry:
            mirrors:
              registry.k8s.io: ["https://mirror.fleetsim.example:5000"]
          kubelet:
            extraArgs:
              node-labels: "fleetsim=true"
              max-pods: "{maxPods}"
          skipPhases: [preflight, prepull-images, verify]
        """);

    public const string DropIn = "/etc/systemd/system/kubelet.service.d/20-nodefleet.conf";
    public const string HostsToml = "/etc/containerd/certs.d/registry.k8s.io/hosts.toml";

    private static NodePlan Load(string yaml)
    {
        var loaded = PlanLoader.Load(yaml);
        if (!loaded.Succeeded) throw new InvalidOperationException("built-in plan is invalid: " + string.Join('\n', loaded.Errors));
        return loaded.Plan!;
    }
}
