using System.Text.RegularExpressions;

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
public sealed partial record DrainSpec
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(15);

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

    /// <summary>The problems of this spec, each naming its field under <paramref name="path"/>; empty when valid.</summary>
    public IReadOnlyList<string> Validate(string path = "spec.drain")
    {
        var errors = new List<string>();
        if (Timeout <= TimeSpan.Zero) errors.Add($"{path}.timeout: must be positive, got {Timeout}");
        else if (Timeout > TimeSpan.FromHours(24)) errors.Add($"{path}.timeout: at most 24h, got {Timeout}");
        if (GracePeriodSeconds is < 0)
            errors.Add($"{path}.gracePeriod: must be 0 or more seconds (leave it out for the pod's own), got {GracePeriodSeconds}");
        if (SkipWaitForDeleteTimeout is { } skip && skip <= TimeSpan.Zero)
            errors.Add($"{path}.skipWaitForDeleteTimeout: must be positive (leave it out to wait for every pod), got {skip}");
        if (PodSelector is { } selector && SelectorProblem(selector) is { } problem)
            errors.Add($"{path}.podSelector: {problem}");
        return errors;
    }

    // key, !key, key=v, key==v, key!=v, key in (a,b), key notin (a,b): the label selector grammar the API server takes.
    [GeneratedRegex(@"^\s*(?:!\s*(?<key>[^\s,=!()]+)|(?<key>[^\s,=!()]+)\s*(?:(?:==?|!=)\s*(?<value>[^\s,=!()]*)|\s+(?:in|notin)\s*\((?<set>[^()]*)\))?)\s*$")]
    private static partial Regex Requirement();

    [GeneratedRegex(@"^(?:[a-z0-9](?:[-a-z0-9]{0,251}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex Key();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
    private static partial Regex Value();

    private static string? SelectorProblem(string selector)
    {
        if (string.IsNullOrWhiteSpace(selector)) return "is empty (leave it out to drain every pod)";
        // Commas inside "in (a,b)" are not requirement separators.
        foreach (var part in Regex.Split(selector, @",(?![^(]*\))"))
        {
            var m = Requirement().Match(part);
            if (!m.Success) return $"'{part.Trim()}' is not a label selector requirement (key, !key, key=value, key!=value, key in (a,b), key notin (a,b))";
            var key = m.Groups["key"].Value;
            if (!Key().IsMatch(key)) return $"'{key}' is not a valid label key";
            var values = m.Groups["set"].Success
                ? m.Groups["set"].Value.Split(',').Select(v => v.Trim())
                : m.Groups["value"].Success ? [m.Groups["value"].Value] : [];
            foreach (var v in values)
                if (!Value().IsMatch(v)) return $"'{v}' is not a valid label value";
        }
        return null;
    }
}
