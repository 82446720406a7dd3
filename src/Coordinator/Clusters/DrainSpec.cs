using Google.Protobuf.WellKnownTypes;
using NodeFleet.Plans;
using V1 = NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>What a drain does when its timeout passes with pods still on the node.</summary>
public enum DrainOnTimeout
{
    /// <summary>Stop, naming the pods left and what blocks them.</summary>
    Fail,

    /// <summary>Delete the remaining pods with the grace period (what kured users ask for), bypassing their budgets.</summary>
    Delete,
}

/// <summary>
/// A plan's spec.drain, with the defaults of the issue: a 15-minute timeout, the pod's own grace period, no emptyDir
/// data deleted, every pod selected, every evicted pod waited for, fail on timeout, unmanaged pods refused.
/// <see cref="SkipWaitForDeleteTimeout"/> is kubectl's: a pod whose deletionTimestamp is older than this is not waited for.
/// </summary>
public sealed record DrainSpec
{
    public TimeSpan Timeout { get; init; } = DrainRules.DefaultTimeout;

    /// <summary>Seconds each pod gets to terminate; null = the pod's own terminationGracePeriodSeconds.</summary>
    public int? GracePeriodSeconds { get; init; }

    public bool DeleteEmptyDirData { get; init; }

    /// <summary>A label selector (kubectl's --pod-selector): only matching pods are drained.</summary>
    public string? PodSelector { get; init; }

    public TimeSpan? SkipWaitForDeleteTimeout { get; init; }

    public DrainOnTimeout OnTimeout { get; init; } = DrainOnTimeout.Fail;

    /// <summary>Also evict pods no controller owns (they are not recreated anywhere).</summary>
    public bool Force { get; init; }

    public static DrainSpec Default { get; } = new();

    /// <summary>The problems of this spec (<see cref="DrainRules"/>), each naming its field under <paramref name="path"/>; empty when valid.</summary>
    public IReadOnlyList<string> Validate(string path = "spec.drain") =>
        DrainRules.Problems(Timeout, GracePeriodSeconds, SkipWaitForDeleteTimeout, PodSelector, OnTimeoutText(OnTimeout))
            .Select(p => $"{path}.{p.Field}: {p.Message}")
            .ToList();

    /// <summary>
    /// A plan's spec.drain as the drainer reads it: unset fields (and an unset spec.drain) take the defaults. The plan
    /// was validated where it entered (<see cref="PlanValidator"/>); a duration that is not one reads as unset.
    /// </summary>
    public static DrainSpec FromProto(V1.DrainSpec? proto)
    {
        if (proto is null) return Default;
        return new DrainSpec
        {
            Timeout = Span(proto.Timeout) ?? DrainRules.DefaultTimeout,
            GracePeriodSeconds = proto.HasGracePeriodSeconds ? proto.GracePeriodSeconds : null,
            DeleteEmptyDirData = proto.DeleteEmptyDirData,
            PodSelector = proto.PodSelector.Length == 0 ? null : proto.PodSelector,
            SkipWaitForDeleteTimeout = Span(proto.SkipWaitForDeleteTimeout),
            OnTimeout = proto.OnTimeout == DrainRules.OnTimeoutDelete ? DrainOnTimeout.Delete : DrainOnTimeout.Fail,
            Force = proto.Force,
        };
    }

    private static TimeSpan? Span(Duration? d) => ProtoDurations.ToSpan(d);

    private static string OnTimeoutText(DrainOnTimeout value) =>
        value == DrainOnTimeout.Delete ? DrainRules.OnTimeoutDelete : DrainRules.OnTimeoutFail;
}
