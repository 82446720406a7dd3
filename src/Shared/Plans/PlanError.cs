using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>
/// One problem in a plan: where (file, 1-based line and column, field path such as "spec.artifacts[0].sha256") and
/// what. A plan that came over the wire has no file and line 0.
/// </summary>
public sealed record PlanError(string File, int Line, int Column, string Path, string Message)
{
    /// <summary>"plan.yaml:12: spec.artifacts[0].sha256: message"; parts that are unknown are left out.</summary>
    public override string ToString()
    {
        var location = File.Length == 0 ? "" : Line > 0 ? $"{File}:{Line}" : File;
        return string.Join(": ", new[] { location, Path, Message }.Where(p => p.Length > 0));
    }
}

/// <summary>What loading a plan gave: the plan when there is no error, every error found, and where each field is.</summary>
public sealed class PlanLoadResult
{
    internal PlanLoadResult(NodePlan? partial, IReadOnlyList<PlanError> errors, PlanSourceMap source)
    {
        Partial = partial;
        Errors = errors;
        Source = source;
    }

    /// <summary>The plan, or null when <see cref="Errors"/> is not empty.</summary>
    public NodePlan? Plan => Errors.Count == 0 ? Partial : null;

    /// <summary>In document order (by line).</summary>
    public IReadOnlyList<PlanError> Errors { get; }

    /// <summary>Field path → position in the file, for reporting later findings against the file.</summary>
    public PlanSourceMap Source { get; }

    public bool Succeeded => Errors.Count == 0;

    /// <summary>What could be read despite errors; the validator checks it so one run reports every problem.</summary>
    internal NodePlan? Partial { get; }
}

/// <summary>A plan that cannot be used; the message lists every error, one per line.</summary>
public sealed class PlanException(IReadOnlyList<PlanError> errors)
    : Exception(string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
{
    public IReadOnlyList<PlanError> Errors { get; } = errors;
}
