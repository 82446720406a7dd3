using k8s;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>The end of a wait for a node: Ready at the target version, or the deadline with what was last seen.</summary>
public sealed record WaitReadyResult(bool Ready, NodeView? Last, TimeSpan Waited, string Reason);

/// <summary>
/// Waits until a Node is Ready with kubeletVersion equal to a target, by polling (a restarted kubelet reports within
/// seconds; a watch would add a long-lived connection per node for nothing).
/// </summary>
public static class NodeReadiness
{
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromMinutes(5);

    public static async Task<WaitReadyResult> WaitReadyAsync(IKubernetes client, string node, string kubeletVersion,
        TimeSpan? deadline = null, TimeSpan? pollInterval = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        time ??= TimeProvider.System;
        var start = time.GetUtcNow();
        var until = start + (deadline ?? DefaultDeadline);
        var target = Normalize(kubeletVersion);
        NodeView? last = null;
        string? lastError = null;
        while (true)
        {
            try
            {
                last = await NodeView.ReadAsync(client, node, ct);
                lastError = null;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // The API server may be restarting under a kubeadm upgrade: keep asking until the deadline.
                lastError = KubeErrors.Describe(e);
            }
            var now = time.GetUtcNow();
            if (last is { IsReady: true } && Normalize(last.KubeletVersion) == target)
                return new WaitReadyResult(true, last, now - start, $"Ready at {last.KubeletVersion}");
            if (now >= until)
                return new WaitReadyResult(false, last, now - start, $"not Ready at {target} within {deadline ?? DefaultDeadline}: " + (
                    lastError is not null ? $"the API server did not answer ({lastError})"
                    : last is null ? "the cluster has no such Node"
                    : $"Ready={last.Ready ?? "unknown"}, kubelet {last.KubeletVersion ?? "unknown"}"));
            var wait = pollInterval ?? TimeSpan.FromSeconds(2);
            await Task.Delay(until - now < wait ? until - now : wait, time, ct);
        }
    }

    // "1.31.4" and "v1.31.4" are the same version; kubelets report the "v" form.
    private static string? Normalize(string? version) =>
        version is null ? null : version.StartsWith('v') ? version : "v" + version;
}
