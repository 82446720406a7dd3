using NodeFleet.Agent.Execution;

namespace NodeFleet.Agent.Phases;

/// <summary>`systemctl daemon-reload` when an earlier step of the run changed a unit file or drop-in.</summary>
public sealed class DaemonReloadStep : IStep
{
    public string Id => "daemon-reload";

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct) => Task.FromResult<CheckResult>(
        ctx.DaemonReloadNeeded ? new CheckResult.NeedsApply("would run systemctl daemon-reload") : new CheckResult.Satisfied("no unit file changed"));

    public async Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        await ctx.Services.DaemonReloadAsync(ct);
        ctx.RequireRun().SetDaemonReloadNeeded(false);
        ctx.Output("systemctl daemon-reload");
    }
}

/// <summary>`restart-services`: restarts a unit only if this run changed its configuration, then waits until it is active.</summary>
public sealed class RestartUnitStep(string unit) : IStep
{
    public static readonly TimeSpan ActiveTimeout = TimeSpan.FromMinutes(2);

    public string Id => $"restart-{unit}";

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct) => Task.FromResult<CheckResult>(
        ctx.ChangedUnits.Contains(unit) && !ctx.RestartedUnits.Contains(unit)
            ? new CheckResult.NeedsApply($"would restart {unit}")
            : new CheckResult.Satisfied(ctx.ChangedUnits.Contains(unit) ? $"{unit} restarted" : $"{unit} configuration unchanged"));

    public async Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        await ctx.Services.RestartAsync(unit, ct);
        ctx.RequireRun().MarkUnitRestarted(unit);
        ctx.Output($"systemctl restart {unit}");
    }

    public async Task<string?> VerifyAsync(StepContext ctx, CancellationToken ct)
    {
        var deadline = ctx.Time.GetUtcNow() + ActiveTimeout;
        while (ctx.Time.GetUtcNow() < deadline)
        {
            if (await ctx.Services.IsActiveAsync(unit, ct)) return null;
            await Task.Delay(TimeSpan.FromSeconds(1), ctx.Time, ct);
        }
        return $"{unit} is not active {ActiveTimeout.TotalSeconds:0}s after the restart";
    }
}
