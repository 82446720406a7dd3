namespace NodeFleet.Agent.Host;

/// <summary>
/// The agent's view of the host filesystem: every host path it reads or writes goes through here and lands
/// under <see cref="Root"/> ("/" in production, a scratch directory in the demo and tests).
/// </summary>
public sealed class HostRoot
{
    public HostRoot(string root)
    {
        if (string.IsNullOrWhiteSpace(root)) throw new ArgumentException("root must not be empty");
        Root = System.IO.Path.GetFullPath(root);
    }

    public string Root { get; }

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
}

/// <summary>Where the agent keeps its own files (host paths, before rooting).</summary>
public static class AgentPaths
{
    public const string ConfigFile = "/etc/nodefleet/agent.yaml";
    public const string PkiDir = "/etc/nodefleet/pki";
    public const string CaCert = "/etc/nodefleet/pki/ca.crt";
    public const string NodeCert = "/etc/nodefleet/pki/node.crt";
    public const string NodeKey = "/etc/nodefleet/pki/node.key";
    public const string StateDir = "/var/lib/nodefleet-agent";
    public const string LinkStatus = "/var/lib/nodefleet-agent/link.json";
}
