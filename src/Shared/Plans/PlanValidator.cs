using System.Text.RegularExpressions;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>
/// The semantic rules of a node plan. Reports every violation, with file and line when the plan was loaded from YAML
/// (pass the <see cref="PlanSourceMap"/>), with only the field path when it came over the wire.
/// </summary>
public static partial class PlanValidator
{
    public const int MaxNameLength = 63;

    [GeneratedRegex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")]
    private static partial Regex NamePattern();

    /// <summary>Every violation in <paramref name="plan"/>; empty when it is valid.</summary>
    public static IReadOnlyList<PlanError> Validate(NodePlan plan, PlanSourceMap? source = null)
    {
        var errors = new ErrorSink(source ?? PlanSourceMap.None);
        CheckLimits(errors, plan);
        if (errors.Errors.Count > 0) return errors.Errors;
        var spec = plan.Spec ?? new NodePlanSpec();
        CheckName(errors, plan.Metadata?.Name ?? "");
        CheckVersion(errors, spec);
        CheckRuntime(errors, spec.Runtime ?? new RuntimeSpec());
        CheckRegistry(errors, spec.Registry ?? new RegistrySpec(), spec.Runtime?.Kind ?? "");
        for (var i = 0; i < spec.Images.Count; i++)
        {
            if (ImageReference.Error(spec.Images[i]) is { } e) errors.Add(PlanPath.Index("spec.images", i), e);
        }
        CheckArtifacts(errors, spec.Artifacts);
        CheckKubelet(errors, spec.Kubelet ?? new KubeletSpec(), spec.KubernetesVersion);
        CheckDrain(errors, spec.Drain);
        CheckKubeadm(errors, spec);
        CheckPhases(errors, spec);
        if (plan.Signature is { } signature && PlanSignatures.ShapeError(signature) is { } signatureError)
            errors.Add("signature", signatureError);
        return errors.Errors;
    }

    /// <summary>Throws <see cref="PlanException"/> listing every violation, for callers that only proceed on a valid plan.</summary>
    public static void EnsureValid(NodePlan plan, PlanSourceMap? source = null)
    {
        var errors = Validate(plan, source);
        if (errors.Count > 0) throw new PlanException(errors);
    }

    private static void CheckName(ErrorSink errors, string name)
    {
        const string path = "metadata.name";
        if (name.Length == 0) errors.Add(path, "required");
        else if (name.Length > MaxNameLength || !NamePattern().IsMatch(name))
            errors.Add(path, $"'{name}' must be at most {MaxNameLength} characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit");
    }

    private static void CheckVersion(ErrorSink errors, NodePlanSpec spec)
    {
        const string path = "spec.kubernetesVersion";
        if (spec.KubernetesVersion.Length == 0)
        {
            errors.Add(path, spec.Kubeadm?.Mode == PlanKubeadm.ModeUpgrade
                ? "required, e.g. v1.31.2 (spec.kubeadm.mode upgrade upgrades the cluster to it)"
                : "required, e.g. v1.31.2");
            return;
        }
        if (!KubernetesRelease.TryParse(spec.KubernetesVersion, out var version))
        {
            errors.Add(path, KubernetesRelease.FormatError(spec.KubernetesVersion));
            return;
        }
        // Only what is left out is derived from kubeadm's table: a plan that lists its images and sandbox image
        // may name any version.
        var needsList = spec.Images.Count == 0 && !spec.SkipPhases.Contains(PlanPhases.PrepullImages);
        var needsPause = string.IsNullOrEmpty(spec.Runtime?.SandboxImage);
        if ((needsList || needsPause) && !KubeadmImages.TryGetVersions(version, out _, out var why))
        {
            var fix = (needsList, needsPause) switch
            {
                (true, true) => "list spec.images and set spec.runtime.sandboxImage",
                (true, false) => "list spec.images",
                _ => "set spec.runtime.sandboxImage",
            };
            errors.Add(path, $"{why}: {fix}");
        }
    }

    private static void CheckRuntime(ErrorSink errors, RuntimeSpec runtime)
    {
        var allowed = string.Join(", ", PlanRuntimes.All);
        if (runtime.Kind.Length == 0) errors.Add("spec.runtime.kind", $"required: one of {allowed}");
        else if (!PlanRuntimes.All.Contains(runtime.Kind))
            errors.Add("spec.runtime.kind", $"unknown runtime '{runtime.Kind}': use one of {allowed}");

        if (runtime.Endpoint.Length > 0)
        {
            const string scheme = "unix://";
            var error = !runtime.Endpoint.StartsWith(scheme, StringComparison.Ordinal)
                ? "must be unix:///absolute/path/to.sock"
                : HostPaths.AbsolutePathError(runtime.Endpoint[scheme.Length..]);
            if (error is not null) errors.Add("spec.runtime.endpoint", $"'{runtime.Endpoint}': {error}");
        }
        if (runtime.CgroupDriver.Length > 0 && !PlanRuntimes.CgroupDrivers.Contains(runtime.CgroupDriver))
            errors.Add("spec.runtime.cgroupDriver", $"unknown cgroup driver '{runtime.CgroupDriver}': use {string.Join(" or ", PlanRuntimes.CgroupDrivers)}");
        if (runtime.SandboxImage.Length > 0 && ImageReference.Error(runtime.SandboxImage) is { } imageError)
            errors.Add("spec.runtime.sandboxImage", imageError);
    }

    private static void CheckRegistry(ErrorSink errors, RegistrySpec registry, string runtimeKind)
    {
        if (registry.ImageRepository.Length > 0 && ImageReference.RepositoryPrefixError(registry.ImageRepository) is { } repoError)
            errors.Add("spec.registry.imageRepository", repoError);

        foreach (var (host, mirror) in registry.Mirrors.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            var hostPath = PlanPath.Key("spec.registry.mirrors", host);
            // Docker's own registry-mirrors serve docker.io only; for other registries the agent pulls from the
            // mirror and tags the image with the upstream name.
            if (ImageReference.RegistryHostError(host) is { } hostError) errors.Add(hostPath, hostError);
            var endpoints = mirror?.Endpoints ?? [];
            if (endpoints.Count == 0) errors.Add(hostPath, "list at least one mirror endpoint (https://host[:port])");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < endpoints.Count; i++)
            {
                var path = PlanPath.Index(hostPath, i);
                var allowPath = runtimeKind != PlanRuntimes.Docker;
                if (Urls.Error(endpoints[i], Urls.Kind.Mirror, allowPath) is { } urlError) errors.Add(path, urlError);
                else if (!seen.Add(endpoints[i])) errors.Add(path, $"'{endpoints[i]}' is listed twice");
            }
        }

        if (registry.CredentialsFile.Length > 0)
        {
            var error = HostPaths.AbsolutePathError(registry.CredentialsFile)
                ?? HostPaths.UnderRootError(registry.CredentialsFile, HostPaths.CredentialRoots);
            if (error is not null) errors.Add("spec.registry.credentialsFile", $"'{registry.CredentialsFile}': {error}");
        }
    }

    private static void CheckPhases(ErrorSink errors, NodePlanSpec spec)
    {
        var known = string.Join(", ", PlanPhases.All);
        foreach (var (phase, timeout) in spec.Timeouts.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var path = PlanPath.Key("spec.timeouts", phase);
            // wait-ready is the coordinator's: how long a node in a cluster may take to be Ready at the version after its run.
            if (!PlanPhases.IsKnown(phase) && phase != PlanPhases.WaitReadyTimeout) errors.Add(path, $"unknown phase '{phase}' (phases: {known}; and wait-ready)");
            else if (timeout is null || timeout.ToTimeSpan() <= TimeSpan.Zero) errors.Add(path, "timeout must be longer than 0");
        }
        var skipped = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.SkipPhases.Count; i++)
        {
            var phase = spec.SkipPhases[i];
            var path = PlanPath.Index("spec.skipPhases", i);
            if (!PlanPhases.IsKnown(phase)) errors.Add(path, $"unknown phase '{phase}' (phases: {known})");
            else if (!skipped.Add(phase)) errors.Add(path, $"'{phase}' is listed twice");
        }
    }

    /// <summary>Collects errors, dropping those about a field the loader already reported as unreadable.</summary>
    private sealed class ErrorSink(PlanSourceMap source)
    {
        public List<PlanError> Errors { get; } = [];

        public void Add(string path, string message)
        {
            if (!source.IsUnreadable(path)) Errors.Add(source.Error(path, message));
        }

        /// <summary>An error located by <paramref name="path"/> and shown with <paramref name="shownPath"/>.</summary>
        public void Add(string path, string message, string shownPath)
        {
            if (source.IsUnreadable(path)) return;
            var (line, column) = source.Locate(path);
            Errors.Add(new PlanError(source.File, line, column, shownPath, message));
        }
    }
}
