using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Agent.Host;
using NodeFleet.IO;

namespace NodeFleet.Agent.Join;

/// <summary>
/// The node's identity as `join` wrote it: the fleet CA, the node's certificate and its private key. Loading it says
/// which file is missing or unusable, so that a local problem is not taken for an unreachable coordinator.
/// </summary>
public static class NodeIdentity
{
    /// <summary>The CA and the node's certificate with its key; <see cref="AgentException"/> naming the file otherwise.</summary>
    public static (X509Certificate2 Ca, X509Certificate2 Cert) Load(HostRoot root)
    {
        FinishRenewal(root);
        var ca = Certificate(root, AgentPaths.CaCert, "the fleet CA's certificate");
        try
        {
            using var cert = Certificate(root, AgentPaths.NodeCert, "the node's certificate");
            using var key = ECDsa.Create();
            var keyPath = root.Path(AgentPaths.NodeKey);
            try { key.ImportFromPem(Read(keyPath, "the node's private key")); }
            catch (ArgumentException e) { throw Unusable(keyPath, "the node's private key", $"not a PEM EC private key ({e.Message})"); }
            catch (CryptographicException e) { throw Unusable(keyPath, "the node's private key", e.Message); }
            try { return (ca, cert.CopyWithPrivateKey(key)); }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                throw Unusable(keyPath, "the node's private key", $"it is not the key of {root.Path(AgentPaths.NodeCert)}");
            }
        }
        catch
        {
            ca.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A renewal writes the new key beside the old one (node.key.next), then the certificate, then moves the key into
    /// place. Stopped between the last two, the certificate on disk belongs to node.key.next: that move is finished here.
    /// </summary>
    public static void FinishRenewal(HostRoot root)
    {
        var next = root.Path(AgentPaths.NextNodeKey);
        if (!File.Exists(next)) return;
        try
        {
            using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(root.Path(AgentPaths.NodeCert)));
            using var key = ECDsa.Create();
            key.ImportFromPem(File.ReadAllText(next));
            using var paired = cert.CopyWithPrivateKey(key);
            File.Move(next, root.Path(AgentPaths.NodeKey), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            // Not the certificate's key (a renewal in progress, or one stopped before its certificate was written): the
            // old pair stands, and the next renewal overwrites the file.
        }
    }

    /// <summary>What is wrong with the identity, or null when it loads.</summary>
    public static string? Problem(HostRoot root)
    {
        try
        {
            var (ca, cert) = Load(root);
            ca.Dispose();
            cert.Dispose();
            return null;
        }
        catch (AgentException e) { return e.Message; }
    }

    private static X509Certificate2 Certificate(HostRoot root, string hostPath, string what)
    {
        var path = root.Path(hostPath);
        var pem = Read(path, what);
        try { return X509Certificate2.CreateFromPem(pem); }
        catch (CryptographicException e) { throw Unusable(path, what, $"not a PEM certificate ({e.Message})"); }
    }

    private static string Read(string path, string what) =>
        TextFiles.TryRead(path, out var text, out var reason)
            ? text
            : throw Unusable(path, what, reason == TextFiles.NoSuchFile ? "missing" : reason);

    private static AgentException Unusable(string path, string what, string problem) =>
        new($"{path} ({what}): {problem}. The node cannot prove who it is: restore the file from a backup, or join again " +
            $"(remove the node on the coordinator, then `nodefleet-agent join` after removing {Path.GetDirectoryName(path)} " +
            "and agent.yaml)");
}
