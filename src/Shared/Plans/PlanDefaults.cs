using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>
/// Fills what a valid plan may leave out, so that renderers and the agent read one explicit value: the runtime's
/// socket and cgroup driver, the sandbox image, artifact modes and the kubelet drop-in name.
/// </summary>
public static class PlanDefaults
{
    /// <summary>
    /// Sets, where empty: runtime.endpoint (the kind's socket), runtime.cgroupDriver (systemd), runtime.sandboxImage
    /// (kubeadm's pause for the version), artifacts[].mode (0755) and kubelet.dropInName (20-nodefleet.conf). With
    /// registry.imageRepository set, a registry.k8s.io sandbox image is moved under it, as kubeadm moves its pause
    /// image, so the runtime uses the image that was pre-pulled. spec.images stays as written (empty means derived:
    /// see <see cref="PlanImages.Resolve"/>). Idempotent; call it on a plan that passed <see cref="PlanValidator"/>.
    /// Returns the same plan.
    /// </summary>
    public static NodePlan Apply(NodePlan plan)
    {
        plan.Metadata ??= new PlanMetadata();
        var spec = plan.Spec ??= new NodePlanSpec();
        var runtime = spec.Runtime ??= new RuntimeSpec();
        spec.Registry ??= new RegistrySpec();
        var kubelet = spec.Kubelet ??= new KubeletSpec();

        if (runtime.Endpoint.Length == 0 && PlanRuntimes.DefaultEndpoint(runtime.Kind) is { } endpoint) runtime.Endpoint = endpoint;
        if (runtime.CgroupDriver.Length == 0) runtime.CgroupDriver = PlanRuntimes.CgroupSystemd;
        if (SandboxImage(plan) is { } sandbox) runtime.SandboxImage = sandbox;
        foreach (var artifact in spec.Artifacts)
        {
            if (artifact.Mode.Length == 0) artifact.Mode = PlanValidator.DefaultArtifactMode;
        }
        if (kubelet.DropInName.Length == 0) kubelet.DropInName = PlanValidator.DefaultDropInName;
        return plan;
    }

    // Left as it is when it cannot be worked out (an unsupported version): the validator has said so already.
    private static string? SandboxImage(NodePlan plan)
    {
        try
        {
            return PlanImages.SandboxImage(plan).ToString();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
