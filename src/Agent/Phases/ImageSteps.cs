using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;

namespace NodeFleet.Agent.Phases;

/// <summary>`prepull-images`: pulls the plan's images that the runtime does not have yet, a few at a time.</summary>
public sealed class PrepullImagesStep(IReadOnlyList<string> images, int parallelism = 3) : IStep
{
    public string Id => "pull";

    private static IImageService Require(StepContext ctx) =>
        ctx.Images ?? throw new StepFailedException($"no image service for runtime {ctx.Plan.Spec.Runtime.Kind}");

    public async Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        var service = Require(ctx);
        var problem = await service.ProbeAsync(ct);
        if (problem is not null) return new CheckResult.Blocked(problem);
        var missing = await MissingAsync(service, ct);
        return missing.Count == 0
            ? new CheckResult.Satisfied($"all {images.Count} images present")
            : new CheckResult.NeedsApply(missing.Select(i => $"would pull {i}").ToList());
    }

    public async Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        var service = Require(ctx);
        var missing = await MissingAsync(service, ct);
        var done = 0;
        await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (image, token) =>
        {
            await service.PullAsync(image, token);
            var n = Interlocked.Increment(ref done);
            lock (ctx) ctx.Output($"pulled {image} ({n}/{missing.Count})");
        });
    }

    public async Task<string?> VerifyAsync(StepContext ctx, CancellationToken ct)
    {
        var missing = await MissingAsync(Require(ctx), ct);
        return missing.Count == 0 ? null : $"still missing after the pull: {string.Join(", ", missing)}";
    }

    private async Task<List<string>> MissingAsync(IImageService service, CancellationToken ct)
    {
        var missing = new List<string>();
        foreach (var i in images)
        {
            if (!await service.IsPresentAsync(i, ct)) missing.Add(i);
        }
        return missing;
    }
}
