namespace NodeFleet.Plans;

/// <summary>
/// The files a plan may install: the binaries a node upgrade replaces — the Kubernetes node binaries and the container
/// runtimes' — in /usr/bin or /usr/local/bin, and CNI plugins in /opt/cni/bin. The agent installs as root and then runs
/// systemctl, the runtimes and more itself, so any other name (systemctl, sudo, bash, the agent's own binary) would be
/// code the sender of a plan gets run as root on every node. The validator and the agent's install step both ask here.
/// </summary>
public static class PlanInstallTargets
{
    /// <summary>Directories that take the binaries in <see cref="Binaries"/> (directly, not in subdirectories).</summary>
    public static readonly IReadOnlyList<string> BinaryDirectories = ["/usr/bin", "/usr/local/bin"];

    /// <summary>The directory of CNI plugins, which the runtime runs by name from the network config: any plugin name.</summary>
    public const string CniDirectory = "/opt/cni/bin";

    /// <summary>
    /// Binary names: kubelet, kubeadm, kubectl, crictl; containerd's release (containerd, containerd-stress, ctr and its
    /// shims, matched by <see cref="BinaryPrefixes"/>); the OCI runtimes; CRI-O's (crio, crio-status, pinns, conmon,
    /// conmonrs); Docker's static release (docker, dockerd, docker-init, docker-proxy) and cri-dockerd.
    /// </summary>
    public static readonly IReadOnlyList<string> Binaries =
    [
        "kubelet", "kubeadm", "kubectl", "crictl",
        "containerd", "containerd-stress", "ctr",
        "runc", "crun", "runsc",
        "crio", "crio-status", "pinns", "conmon", "conmonrs",
        "docker", "dockerd", "docker-init", "docker-proxy", "cri-dockerd",
    ];

    /// <summary>Name prefixes of runtime binaries that come in variants: containerd's shims (containerd-shim-runc-v2, ...).</summary>
    public static readonly IReadOnlyList<string> BinaryPrefixes = ["containerd-shim"];

    /// <summary>Every directory a plan may install into.</summary>
    public static IReadOnlyList<string> Directories { get; } = [.. BinaryDirectories, CniDirectory];

    /// <summary>
    /// Null when a plan may install a file at <paramref name="installPath"/> (an absolute, clean path), else why not,
    /// naming what is allowed.
    /// </summary>
    public static string? Error(string installPath)
    {
        if (HostPaths.AbsolutePathError(installPath) is { } pathError) return pathError;
        var slash = installPath.LastIndexOf('/');
        var directory = slash == 0 ? "/" : installPath[..slash];
        var name = installPath[(slash + 1)..];
        if (directory == CniDirectory) return null;
        if (BinaryDirectories.Contains(directory))
            return IsBinary(name) ? null
                : $"{name} is not a binary a node upgrade installs: into {string.Join(" or ", BinaryDirectories)} a plan may install only {Allowed}";
        if (Directories.FirstOrDefault(d => installPath.StartsWith(d + "/", StringComparison.Ordinal)) is { } root)
            return $"must be directly in {root}, not in a subdirectory";
        return $"must be one of {Allowed} in {string.Join(" or ", BinaryDirectories)}, or a CNI plugin in {CniDirectory}";
    }

    /// <summary>Whether <paramref name="name"/> is one of <see cref="Binaries"/> or starts with one of <see cref="BinaryPrefixes"/>.</summary>
    public static bool IsBinary(string name) =>
        Binaries.Contains(name) || BinaryPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal) && name.Length > p.Length);

    /// <summary>"kubelet, kubeadm, ... or containerd-shim*", for messages.</summary>
    public static string Allowed => string.Join(", ", Binaries) + ", or " + string.Join(", ", BinaryPrefixes.Select(p => p + "*"));
}
