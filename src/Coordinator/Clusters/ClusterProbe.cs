using k8s;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>What `cluster list` shows of a cluster: reachable or why not, the API server's version, how many nodes.</summary>
public sealed record ClusterStatus(bool Reachable, string? ServerVersion, int? NodeCount, string? Error);

/// <summary>Asks a cluster's API server whether it answers, its version and its node count.</summary>
public static class ClusterProbe
{
    public static async Task<ClusterStatus> ProbeAsync(IKubernetes client, CancellationToken ct = default)
    {
        try
        {
            var version = await client.Version.GetCodeAsync(ct);
            var nodes = await client.CoreV1.ListNodeAsync(cancellationToken: ct);
            return new ClusterStatus(true, version.GitVersion, nodes.Items.Count, null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new ClusterStatus(false, null, null, KubeErrors.Describe(e));
        }
    }
}
