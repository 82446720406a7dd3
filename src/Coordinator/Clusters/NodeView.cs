using k8s;
using k8s.Models;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>
/// The Kubernetes view of a node that `nodes -o wide` and `node describe` show: the Ready condition ("True", "False",
/// "Unknown", or null when the kubelet never posted it), the kubelet's version, whether pods may be scheduled, roles.
/// </summary>
public sealed record NodeView(string Name, string? Ready, string? KubeletVersion, bool Schedulable, IReadOnlyList<string> Roles)
{
    private const string RolePrefix = "node-role.kubernetes.io/";

    public bool IsReady => Ready == "True";

    public bool IsControlPlane => Roles.Contains("control-plane") || Roles.Contains("master");

    public static NodeView From(V1Node node)
    {
        var ready = node.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Status;
        // kubectl shows a role per node-role.kubernetes.io/<role> label, and the value of the older kubernetes.io/role.
        var roles = (node.Metadata?.Labels ?? new Dictionary<string, string>())
            .Select(l => l.Key.StartsWith(RolePrefix, StringComparison.Ordinal) ? l.Key[RolePrefix.Length..]
                : l.Key == "kubernetes.io/role" ? l.Value : null)
            .Where(r => !string.IsNullOrEmpty(r)).Select(r => r!).Distinct().Order(StringComparer.Ordinal).ToList();
        return new NodeView(node.Metadata?.Name ?? "", ready, node.Status?.NodeInfo?.KubeletVersion,
            node.Spec?.Unschedulable != true, roles);
    }

    /// <summary>Reads one Node; null when the cluster has no Node of that name.</summary>
    public static async Task<NodeView?> ReadAsync(IKubernetes client, string name, CancellationToken ct = default)
    {
        try
        {
            return From(await client.CoreV1.ReadNodeAsync(name, cancellationToken: ct));
        }
        catch (Exception e) when (KubeErrors.IsNotFound(e))
        {
            return null;
        }
    }
}
