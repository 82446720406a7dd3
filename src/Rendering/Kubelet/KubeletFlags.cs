namespace NodeFleet.Rendering;

/// <summary>A kubelet command-line flag that a Kubernetes release removed: passing it makes kubelet exit at start.</summary>
public sealed record RemovedKubeletFlag(string Name, KubernetesVersion RemovedIn, string Instead);

/// <summary>
/// Kubelet flags removed in the releases NodeFleet may install, from the Kubernetes changelogs. kubelet refuses
/// an unknown flag ("failed to parse kubelet flag: unknown flag"), so a drop-in must not pass one to a release that
/// no longer has it.
/// </summary>
public static class KubeletFlags
{
    private const string Dockershim = "removed with dockershim; configure the CNI plugin and container runtime instead";

    /// <summary>The table: flag name (without dashes), the release that removed it, and what to do instead.</summary>
    public static IReadOnlyList<RemovedKubeletFlag> Removed { get; } =
    [
        // CHANGELOG-1.24, kubernetes#106907: dockershim-related flags removed with dockershim.
        new("experimental-dockershim-root-directory", new(1, 24), Dockershim),
        new("docker-endpoint", new(1, 24), Dockershim),
        new("image-pull-progress-deadline", new(1, 24), Dockershim),
        new("network-plugin", new(1, 24), Dockershim),
        new("network-plugin-mtu", new(1, 24), Dockershim),
        new("cni-conf-dir", new(1, 24), Dockershim),
        new("cni-bin-dir", new(1, 24), Dockershim),
        new("cni-cache-dir", new(1, 24), Dockershim),
        // CHANGELOG-1.27, kubernetes#114017: its only remaining value was "remote".
        new("container-runtime", new(1, 27), "drop it: kubelet always talks CRI to --container-runtime-endpoint"),
        // CHANGELOG-1.35, kubernetes#133779.
        new("pod-infra-container-image", new(1, 35), "set the sandbox (pause) image in the container runtime's configuration"),
    ];

    /// <summary>The removal entry of <paramref name="flag"/> (with or without leading dashes) if it is gone in <paramref name="version"/>.</summary>
    public static RemovedKubeletFlag? RemovedFor(string flag, KubernetesVersion version)
    {
        var name = flag.TrimStart('-');
        return Removed.FirstOrDefault(r => r.Name == name && version >= r.RemovedIn);
    }
}
