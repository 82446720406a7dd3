using System.Diagnostics.CodeAnalysis;

namespace NodeFleet.Plans;

/// <summary>
/// The images `kubeadm config images list --kubernetes-version vX.Y.Z [--image-repository R]` prints, computed
/// without kubeadm: kube-apiserver, kube-controller-manager, kube-scheduler and kube-proxy tagged with the Kubernetes
/// version, then coredns, pause and etcd at the versions the kubeadm of that release uses.
/// </summary>
/// <remarks>
/// kubeadm takes the CoreDNS and pause versions from its own constants and the etcd version from its
/// SupportedEtcdVersion map, and both change in patch releases (v1.30.5 moved to CoreDNS v1.11.3 and etcd 3.5.15-0),
/// so the table below is per patch range. It records what each kubeadm release printed (the output minikube collects
/// for every release in pkg/minikube/constants/constants_kubeadm_images.go), through v1.28.15, v1.29.15, v1.30.14,
/// v1.31.14, v1.32.13 and v1.33.13; a later patch takes its line's last row. Release candidates print what their
/// release prints; alpha and beta builds do not, so they are refused.
/// </remarks>
public static class KubeadmImages
{
    /// <summary>kubeadm's default imageRepository.</summary>
    public const string DefaultRepository = "registry.k8s.io";

    public const int OldestMinor = 28;
    public const int NewestMinor = 33;

    /// <summary>"v1.28 to v1.33", for messages.</summary>
    public static string SupportedRange => $"v1.{OldestMinor} to v1.{NewestMinor}";

    /// <summary>The add-on image versions kubeadm uses for one Kubernetes version.</summary>
    public sealed record AddonVersions(string CoreDns, string Etcd, string Pause);

    private sealed record Row(int Minor, int FromPatch, AddonVersions Versions);

    // Ordered by minor, then patch: a row holds from its patch until the next row of the same minor.
    private static readonly Row[] Table =
    [
        new(28, 0, new("v1.10.1", "3.5.9-0", "3.9")),
        new(28, 6, new("v1.10.1", "3.5.10-0", "3.9")),
        new(28, 8, new("v1.10.1", "3.5.12-0", "3.9")),
        new(28, 14, new("v1.10.1", "3.5.15-0", "3.9")),
        new(29, 0, new("v1.11.1", "3.5.10-0", "3.9")),
        new(29, 3, new("v1.11.1", "3.5.12-0", "3.9")),
        new(29, 9, new("v1.11.1", "3.5.15-0", "3.9")),
        new(29, 11, new("v1.11.1", "3.5.16-0", "3.9")),
        new(30, 0, new("v1.11.1", "3.5.12-0", "3.9")),
        new(30, 5, new("v1.11.3", "3.5.15-0", "3.9")),
        new(31, 0, new("v1.11.1", "3.5.15-0", "3.10")),
        new(31, 1, new("v1.11.3", "3.5.15-0", "3.10")),
        new(31, 14, new("v1.11.3", "3.5.24-0", "3.10")),
        new(32, 0, new("v1.11.3", "3.5.16-0", "3.10")),
        new(32, 10, new("v1.11.3", "3.5.24-0", "3.10")),
        new(33, 0, new("v1.12.0", "3.5.21-0", "3.10")),
        new(33, 6, new("v1.12.0", "3.5.24-0", "3.10")),
    ];

    /// <summary>The CoreDNS, etcd and pause versions for <paramref name="version"/>, or why they are not known.</summary>
    public static bool TryGetVersions(KubernetesRelease version, [NotNullWhen(true)] out AddonVersions? versions,
        [NotNullWhen(false)] out string? error)
    {
        versions = null;
        if (version.Major != 1 || version.Minor is < OldestMinor or > NewestMinor)
        {
            error = $"kubeadm image versions are known for Kubernetes {SupportedRange}, not {version}";
            return false;
        }
        if (version.PreRelease is { } pre && !pre.StartsWith("rc.", StringComparison.Ordinal))
        {
            error = $"kubeadm image versions are not known for the pre-release {version} (only release candidates)";
            return false;
        }
        versions = Table.Last(r => r.Minor == version.Minor && r.FromPatch <= version.Patch).Versions;
        error = null;
        return true;
    }

    public static AddonVersions GetVersions(KubernetesRelease version) =>
        TryGetVersions(version, out var versions, out var error) ? versions : throw new ArgumentException(error);

    /// <summary>
    /// The list in kubeadm's order. With a custom <paramref name="imageRepository"/> every image moves under it and
    /// CoreDNS loses its "coredns/" sub-path (R/coredns:vA.B.C), as kubeadm does.
    /// </summary>
    public static IReadOnlyList<ImageReference> List(KubernetesRelease version, string? imageRepository = null)
    {
        var v = GetVersions(version);
        var repository = string.IsNullOrEmpty(imageRepository) ? DefaultRepository : imageRepository;
        var coreDnsRepository = repository == DefaultRepository ? DefaultRepository + "/coredns" : repository;
        var tag = version.ToString();
        return
        [
            ImageReference.Parse($"{repository}/kube-apiserver:{tag}"),
            ImageReference.Parse($"{repository}/kube-controller-manager:{tag}"),
            ImageReference.Parse($"{repository}/kube-scheduler:{tag}"),
            ImageReference.Parse($"{repository}/kube-proxy:{tag}"),
            ImageReference.Parse($"{coreDnsRepository}/coredns:{v.CoreDns}"),
            ImageReference.Parse($"{repository}/pause:{v.Pause}"),
            ImageReference.Parse($"{repository}/etcd:{v.Etcd}"),
        ];
    }

    /// <summary>kubeadm's pause image for <paramref name="version"/>: "registry.k8s.io/pause:3.10".</summary>
    public static ImageReference PauseImage(KubernetesRelease version, string? imageRepository = null) =>
        ImageReference.Parse($"{(string.IsNullOrEmpty(imageRepository) ? DefaultRepository : imageRepository)}/pause:{GetVersions(version).Pause}");
}
