using NodeFleet.Plans;
using NodeFleet.Rendering;

namespace NodeFleet.Agent.Host;

/// <summary>
/// The agent's view of the host filesystem: every host path it reads or writes goes through here and lands
/// under <see cref="Root"/> ("/" in production, a scratch directory in the demo and tests).
/// </summary>
public sealed class HostRoot
{
    /// <summary>
    /// The directories under which plans (and undo and reset) change files: the runtimes' and the kubelet drop-in's
    /// configuration, the artifact install roots, and the agent's own state. Each may itself be a symbolic link, as
    /// may what is above it (merged /usr, /usr/local on an image-based OS): that is the distribution's layout.
    /// Below it the agent goes through real directories only.
    /// </summary>
    public static readonly IReadOnlyList<string> WritableRoots =
    [
        "/etc/containerd", "/etc/crio", "/etc/containers", "/etc/docker", KubeletDropIn.Directory,
        .. PlanValidator.AllowedInstallRoots,
        // No plan installs here any more; kept so that undo and reset still put back what older plans installed.
        "/usr/libexec/kubernetes",
        AgentPaths.StateDir,
    ];

    /// <param name="root">Where the node's files are ("/" on a node).</param>
    /// <param name="kernelRoot">Where kernel state (/proc, /sys) is read: "/" (the running kernel) unless a test stands in for it.</param>
    public HostRoot(string root, string kernelRoot = "/")
    {
        if (string.IsNullOrWhiteSpace(root)) throw new ArgumentException("root must not be empty");
        Root = System.IO.Path.GetFullPath(root);
        Kernel = new HostKernel(kernelRoot);
    }

    public string Root { get; }

    /// <summary>The running kernel's state, which a root does not move.</summary>
    public HostKernel Kernel { get; }

    /// <summary>Maps an absolute host path to its place under the root, refusing relative paths and escapes.</summary>
    public string Path(string hostPath)
    {
        if (!hostPath.StartsWith('/')) throw new ArgumentException($"host path '{hostPath}' must be absolute");
        var full = System.IO.Path.GetFullPath(System.IO.Path.Join(Root, hostPath));
        var rootWithSep = Root.EndsWith('/') ? Root : Root + "/";
        if (full != Root && !full.StartsWith(rootWithSep, StringComparison.Ordinal))
            throw new ArgumentException($"host path '{hostPath}' escapes the root {Root}");
        return full;
    }

    /// <summary>
    /// Null when the agent may change <paramref name="hostPath"/>: a clean absolute path strictly beneath one of
    /// <see cref="WritableRoots"/>. The same check guards plan paths and the paths undo and reset take from the journal.
    /// </summary>
    public static string? WritableError(string hostPath)
    {
        if (HostPaths.AbsolutePathError(hostPath) is { } error) return $"host path '{hostPath}': {error}";
        return WritableRootOf(hostPath) is null
            ? $"{hostPath} is outside the directories the agent changes ({string.Join(", ", WritableRoots)})"
            : null;
    }

    private static string? WritableRootOf(string hostPath) =>
        WritableRoots.Where(r => hostPath.StartsWith(r + "/", StringComparison.Ordinal)).MaxBy(r => r.Length);

    /// <summary>
    /// The rooted path of a file the agent may change (see <see cref="WritableError"/>), after checking that every
    /// directory between its writable root and the file is a real directory. With <paramref name="createDirectories"/>
    /// the missing ones are created, one at a time and each checked, so none is created through a link; without it the
    /// walk stops at the first missing one (there is nothing below it to read). The file itself is not looked at.
    /// </summary>
    /// <exception cref="HostPathException">The path is not writable, or a directory on the way is a symbolic link or a file.</exception>
    public string WritablePath(string hostPath, bool createDirectories)
    {
        if (WritableError(hostPath) is { } error) throw new HostPathException(error);
        var writableRoot = WritableRootOf(hostPath)!;
        var full = Path(hostPath);
        var dir = Path(writableRoot);
        if (createDirectories)
        {
            // The agent's own state directory is only root's, whoever writes in it first (journal, backups, cache).
            if (writableRoot == AgentPaths.StateDir) StateDirectory.Ensure(this);
            else Directory.CreateDirectory(dir);
        }
        var hostDir = writableRoot;
        var segments = hostPath[(writableRoot.Length + 1)..].Split('/');
        foreach (var segment in segments[..^1])
        {
            hostDir += "/" + segment;
            dir = System.IO.Path.Join(dir, segment);
            var entry = HostEntry.At(dir);
            if (entry.Kind == EntryKind.Absent)
            {
                if (!createDirectories) return full;
                Directory.CreateDirectory(dir);
                // Created just now: re-read, so a link put in its place meanwhile is still refused.
                entry = HostEntry.At(dir);
            }
            switch (entry.Kind)
            {
                case EntryKind.Directory:
                    continue;
                case EntryKind.SymbolicLink:
                    throw new HostPathException(
                        $"{hostDir} is a symbolic link (to {entry.LinkTarget}); the agent does not write through links below {writableRoot}");
                default:
                    throw new HostPathException($"{hostDir} is not a directory; the agent cannot write {hostPath}");
            }
        }
        return full;
    }
}

/// <summary>
/// A host path the agent refuses to touch: outside its writable roots, reached through a symbolic link, or named by
/// a journal record that does not hold up (a malformed backup hash). The message names the path and the reason.
/// </summary>
public sealed class HostPathException(string message) : IOException(message);

/// <summary>Where the agent keeps its own files (host paths, before rooting).</summary>
public static class AgentPaths
{
    public const string ConfigFile = "/etc/nodefleet/agent.yaml";
    public const string PkiDir = "/etc/nodefleet/pki";
    public const string CaCert = "/etc/nodefleet/pki/ca.crt";
    public const string NodeCert = "/etc/nodefleet/pki/node.crt";
    public const string NodeKey = "/etc/nodefleet/pki/node.key";
    /// <summary>A renewed key, until its certificate is in place (see <c>CertificateRenewal</c>).</summary>
    public const string NextNodeKey = "/etc/nodefleet/pki/node.key.next";
    public const string StateDir = "/var/lib/nodefleet-agent";
    public const string LinkStatus = "/var/lib/nodefleet-agent/link.yaml";
}
