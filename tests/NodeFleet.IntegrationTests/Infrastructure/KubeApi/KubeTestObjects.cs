namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>The controller that owns a test pod, written as its ownerReferences entry (controller: true).</summary>
public sealed record PodOwner(string Kind, string Name)
{
    public static PodOwner DaemonSet(string name) => new("DaemonSet", name);
    public static PodOwner ReplicaSet(string name) => new("ReplicaSet", name);
    public static PodOwner StatefulSet(string name) => new("StatefulSet", name);

    public string ApiVersion => "apps/v1";
}

/// <summary>
/// A pod as a test places it on the Kubernetes API test server. <see cref="TerminationDelay"/> plays the kubelet:
/// after a graceful delete the pod stays listed, Terminating (deletionTimestamp set), this long (at most its grace
/// period) before it disappears. <see cref="Mirror"/> makes it a static pod's mirror (kubernetes.io/config.mirror).
/// </summary>
public sealed record TestPod(string Namespace, string Name, string NodeName)
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public PodOwner? Owner { get; init; }
    public bool Mirror { get; init; }
    public bool EmptyDir { get; init; }
    public bool Ready { get; init; } = true;
    public int TerminationGracePeriodSeconds { get; init; } = 30;
    public TimeSpan TerminationDelay { get; init; }
}

/// <summary>
/// A ReplicaSet plays its controller, the scheduler and the kubelet at once: when one of its pods disappears, a
/// replacement is created on a Ready, schedulable node other than the one it left, and turns Ready after
/// <see cref="ReadyAfter"/>. Its replicas are also the expected count of a budget given as maxUnavailable or a percent.
/// </summary>
public sealed record TestReplicaSet(string Namespace, string Name, int Replicas, IReadOnlyDictionary<string, string> PodLabels)
{
    public bool Replace { get; init; } = true;
    public TimeSpan ReadyAfter { get; init; } = TimeSpan.FromMilliseconds(300);
    public TimeSpan PodTerminationDelay { get; init; }
}

/// <summary>
/// One mutating request the server acted on, or a change its stand-in kubelet/controllers made, in order.
/// <see cref="UnavailableByBudget"/> is each PodDisruptionBudget's expected-minus-healthy count right after it.
/// </summary>
public sealed record KubeApiEvent(
    long Sequence, DateTimeOffset At, string Action, string Target, string Detail,
    IReadOnlyDictionary<string, int> UnavailableByBudget)
{
    public override string ToString() =>
        $"{Sequence} {At:HH:mm:ss.fff} {Action} {Target} {Detail} [{string.Join(", ", UnavailableByBudget.Select(b => $"{b.Key}: {b.Value} unavailable"))}]";
}

/// <summary>The actions in the record.</summary>
public static class KubeApiActions
{
    public const string PatchNode = "patch-node";
    public const string PatchNodeStatus = "patch-node-status";
    public const string Evicted = "evict";
    public const string EvictionRefused = "evict-refused";
    public const string DeletePod = "delete-pod";
    public const string PodGone = "pod-gone";
    public const string PodCreated = "pod-created";
    public const string PodReady = "pod-ready";
    public const string NodeChanged = "node-changed";
}
