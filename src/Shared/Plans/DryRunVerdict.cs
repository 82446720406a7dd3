namespace NodeFleet.Plans;

/// <summary>
/// What a dry run predicts for the real run. A blocked preflight step stops the plan before anything is changed, so
/// the dry run fails (exit 1) as the apply would; blocked steps of later phases may clear once earlier ones have run
/// (images missing before they are pre-pulled), so they are shown but do not fail the dry run.
/// </summary>
public static class DryRunVerdict
{
    public const string Blocked = "blocked";

    /// <summary>Null when the run would get past preflight, else the error line, naming the blocked steps.</summary>
    public static string? WouldStop(IEnumerable<(string Phase, string Step, string Outcome)> steps, string where)
    {
        var blocked = steps.Where(s => s.Phase == PlanPhases.Preflight && s.Outcome == Blocked).Select(s => $"[{s.Phase}/{s.Step}]").ToList();
        return blocked.Count == 0 ? null
            : $"applying the plan {where} would stop at {string.Join(", ", blocked)} (above); fix what it names, or ignore a check by its ID with --ignore-preflight-errors";
    }
}
