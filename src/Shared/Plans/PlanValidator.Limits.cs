using Google.Protobuf;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

public static partial class PlanValidator
{
    /// <summary>
    /// Every way <paramref name="plan"/> exceeds <see cref="PlanLimits"/>: its encoded size, the length of its lists
    /// and maps, the length of each text. Checked before anything else, and alone: the other checks of an oversized
    /// plan would cost what the limits are there to spare, and would quote the oversized texts.
    /// </summary>
    private static void CheckLimits(ErrorSink errors, NodePlan plan)
    {
        var size = plan.CalculateSize();
        if (size > PlanLimits.MaxPlanBytes) errors.Add("", PlanLimits.TooLarge(size, "the plan's encoding"));

        var spec = plan.Spec ?? new NodePlanSpec();
        Count(errors, "spec.images", spec.Images.Count, PlanLimits.MaxImages, "images");
        Count(errors, "spec.artifacts", spec.Artifacts.Count, PlanLimits.MaxArtifacts, "artifacts");
        Count(errors, "spec.kubelet.extraArgs", spec.Kubelet?.ExtraArgs.Count ?? 0, PlanLimits.MaxExtraArgs, "flags");
        Count(errors, "spec.registry.mirrors", spec.Registry?.Mirrors.Count ?? 0, PlanLimits.MaxMirroredRegistries, "mirrored registries");
        // A phase is timed or skipped once at most, so neither list can be longer than the list of phases.
        Count(errors, "spec.timeouts", spec.Timeouts.Count, PlanPhases.All.Count, "phases (one per phase)");
        Count(errors, "spec.skipPhases", spec.SkipPhases.Count, PlanPhases.All.Count, "phases (one per phase)");
        foreach (var (host, mirror) in spec.Registry?.Mirrors ?? [])
        {
            var (locate, shown) = KeyPath("spec.registry.mirrors", host);
            var count = mirror?.Endpoints.Count ?? 0;
            if (count > PlanLimits.MaxMirrorEndpoints)
                errors.Add(locate, $"{count} endpoints; a plan may list at most {PlanLimits.MaxMirrorEndpoints} per registry", shown);
        }
        if (errors.Errors.Count > 0) return;

        foreach (var (locate, shown, text) in Texts(plan))
        {
            if (text.Length > PlanLimits.MaxStringLength)
                errors.Add(locate, $"{text.Length} characters long; a value in a plan may be at most {PlanLimits.MaxStringLength}", shown);
        }
    }

    private static void Count(ErrorSink errors, string path, int count, int max, string what)
    {
        if (count > max) errors.Add(path, $"{count} {what}; a plan may list at most {max}");
    }

    /// <summary>Every text of a plan with its field path (where to locate it, and how to show it).</summary>
    private static IEnumerable<(string Locate, string Shown, string Text)> Texts(NodePlan plan)
    {
        static (string, string, string) F(string path, string text) => (path, path, text);
        yield return F("metadata.name", plan.Metadata?.Name ?? "");
        var spec = plan.Spec ?? new NodePlanSpec();
        yield return F("spec.kubernetesVersion", spec.KubernetesVersion);
        if (spec.Runtime is { } rt)
        {
            yield return F("spec.runtime.kind", rt.Kind);
            yield return F("spec.runtime.endpoint", rt.Endpoint);
            yield return F("spec.runtime.cgroupDriver", rt.CgroupDriver);
            yield return F("spec.runtime.sandboxImage", rt.SandboxImage);
        }
        if (spec.Registry is { } registry)
        {
            yield return F("spec.registry.imageRepository", registry.ImageRepository);
            yield return F("spec.registry.credentialsFile", registry.CredentialsFile);
            foreach (var (host, mirror) in registry.Mirrors)
            {
                var (locate, shown) = KeyPath("spec.registry.mirrors", host);
                yield return (locate, shown, host);
                var endpoints = mirror?.Endpoints ?? [];
                for (var i = 0; i < endpoints.Count; i++)
                    yield return (PlanPath.Index(locate, i), PlanPath.Index(shown, i), endpoints[i]);
            }
        }
        for (var i = 0; i < spec.Images.Count; i++) yield return F(PlanPath.Index("spec.images", i), spec.Images[i]);
        for (var i = 0; i < spec.Artifacts.Count; i++)
        {
            var a = spec.Artifacts[i];
            var path = PlanPath.Index("spec.artifacts", i);
            yield return F(PlanPath.Field(path, "name"), a.Name);
            yield return F(PlanPath.Field(path, "url"), a.Url);
            yield return F(PlanPath.Field(path, "sha256"), a.Sha256);
            yield return F(PlanPath.Field(path, "installPath"), a.InstallPath);
            yield return F(PlanPath.Field(path, "mode"), a.Mode);
        }
        if (spec.Kubelet is { } kubelet)
        {
            yield return F("spec.kubelet.dropInName", kubelet.DropInName);
            foreach (var (flag, value) in kubelet.ExtraArgs)
            {
                var (locate, shown) = KeyPath("spec.kubelet.extraArgs", flag);
                yield return (locate, shown, flag);
                yield return (locate, shown, value);
            }
        }
        if (spec.Drain is { } drain)
        {
            yield return F("spec.drain.podSelector", drain.PodSelector);
            yield return F("spec.drain.onTimeout", drain.OnTimeout);
        }
        if (spec.Kubeadm is { } kubeadm)
        {
            yield return F("spec.kubeadm.mode", kubeadm.Mode);
            yield return F("spec.kubeadm.configFile", kubeadm.ConfigFile);
        }
        foreach (var phase in spec.Timeouts.Keys)
        {
            var (locate, shown) = KeyPath("spec.timeouts", phase);
            yield return (locate, shown, phase);
        }
        for (var i = 0; i < spec.SkipPhases.Count; i++) yield return F(PlanPath.Index("spec.skipPhases", i), spec.SkipPhases[i]);
    }

    /// <summary>
    /// The path of a map entry; a key too long to be shown whole is cut in the path (an error quoting a 100 KB key
    /// would bury its own message), while the position is still looked up by the whole key.
    /// </summary>
    private static (string Locate, string Shown) KeyPath(string map, string key) =>
        (PlanPath.Key(map, key), key.Length <= ShownKeyLength ? PlanPath.Key(map, key) : PlanPath.Key(map, key[..ShownKeyLength] + "…"));

    private const int ShownKeyLength = 40;
}
