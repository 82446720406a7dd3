using System.Text.RegularExpressions;

namespace NodeFleet.Plans;

/// <summary>
/// The rules of a plan's spec.drain, in one place for the CLI, the coordinator and the agent: the defaults
/// (a 15-minute timeout, the pod's own grace period, fail on timeout) and what a valid drain is.
/// </summary>
public static partial class DrainRules
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(15);

    /// <summary>A drain that has not finished in a day is stuck, not slow.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(24);

    public const string OnTimeoutFail = "fail";
    public const string OnTimeoutDelete = "delete";

    public static IReadOnlyList<string> OnTimeoutValues { get; } = [OnTimeoutFail, OnTimeoutDelete];

    /// <summary>
    /// The problems of a drain, each as (field under spec.drain, message); empty when valid. A null
    /// <paramref name="podSelector"/> selects every pod; an empty <paramref name="onTimeout"/> is fail.
    /// </summary>
    public static IEnumerable<(string Field, string Message)> Problems(
        TimeSpan timeout, int? gracePeriodSeconds, TimeSpan? skipWaitForDeleteTimeout, string? podSelector, string onTimeout = "")
    {
        if (timeout <= TimeSpan.Zero) yield return ("timeout", $"must be positive, got {timeout}");
        else if (timeout > MaxTimeout) yield return ("timeout", $"at most 24h, got {timeout}");
        if (gracePeriodSeconds is < 0)
            yield return ("gracePeriod", $"must be 0 or more seconds (leave it out for the pod's own), got {gracePeriodSeconds}");
        if (skipWaitForDeleteTimeout is { } skip && skip <= TimeSpan.Zero)
            yield return ("skipWaitForDeleteTimeout", $"must be positive (leave it out to wait for every pod), got {skip}");
        if (podSelector is { } selector && SelectorProblem(selector) is { } problem)
            yield return ("podSelector", problem);
        if (onTimeout.Length > 0 && !OnTimeoutValues.Contains(onTimeout))
            yield return ("onTimeout", $"unknown value '{onTimeout}': use {OnTimeoutFail} (stop, naming the pods left) or {OnTimeoutDelete} (delete them)");
    }

    // key, !key, key=v, key==v, key!=v, key in (a,b), key notin (a,b): the label selector grammar the API server takes.
    [GeneratedRegex(@"^\s*(?:!\s*(?<key>[^\s,=!()]+)|(?<key>[^\s,=!()]+)\s*(?:(?:==?|!=)\s*(?<value>[^\s,=!()]*)|\s+(?:in|notin)\s*\((?<set>[^()]*)\))?)\s*$")]
    private static partial Regex Requirement();

    [GeneratedRegex(@"^(?:[a-z0-9](?:[-a-z0-9]{0,251}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex Key();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
    private static partial Regex Value();

    [GeneratedRegex(@",(?![^(]*\))")]
    private static partial Regex RequirementSeparator();

    /// <summary>Null when <paramref name="selector"/> is a label selector the API server takes, else why not.</summary>
    public static string? SelectorProblem(string selector)
    {
        if (string.IsNullOrWhiteSpace(selector)) return "is empty (leave it out to drain every pod)";
        // Commas inside "in (a,b)" are not requirement separators.
        foreach (var part in RequirementSeparator().Split(selector))
        {
            var m = Requirement().Match(part);
            if (!m.Success) return $"'{part.Trim()}' is not a label selector requirement (key, !key, key=value, key!=value, key in (a,b), key notin (a,b))";
            var key = m.Groups["key"].Value;
            if (!Key().IsMatch(key)) return $"'{key}' is not a valid label key";
            var values = m.Groups["set"].Success
                ? m.Groups["set"].Value.Split(',').Select(v => v.Trim())
                : m.Groups["value"].Success ? [m.Groups["value"].Value] : [];
            foreach (var v in values)
            {
                if (!Value().IsMatch(v)) return $"'{v}' is not a valid label value";
            }
        }
        return null;
    }
}
