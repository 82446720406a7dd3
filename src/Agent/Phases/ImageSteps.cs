using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace NodeFleet.Agent.Phases;

/// <summary>
/// `prepull-images`: pulls the plan's images that the runtime does not have yet, a few at a time, each with its own
/// deadline and retried with jittered backoff on transient failures only (never on not-found or unauthorized).
/// </summary>
public sealed class PrepullImagesStep(IReadOnlyList<string> images, PullSettings settings) : IStep
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
        var pipeline = Pipeline(ctx);
        var done = 0;
        long bytes = 0;
        ctx.Progress($"pulling {missing.Count} of {images.Count} images");
        await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = settings.Parallelism, CancellationToken = ct }, async (image, token) =>
        {
            var size = await pipeline.ExecuteAsync(async t => await service.PullAsync(image, t), token);
            var n = Interlocked.Increment(ref done);
            var total = Interlocked.Add(ref bytes, (long)size);
            lock (ctx)
            {
                ctx.Output($"pulled {image} ({size / 1024.0 / 1024.0:0.0} MiB)");
                ctx.Progress($"pulled {n}/{missing.Count} images ({total / 1024.0 / 1024.0:0.0} MiB)");
            }
        });
    }

    private ResiliencePipeline<ulong> Pipeline(StepContext ctx) => new ResiliencePipelineBuilder<ulong>()
        // The deadline covers every attempt of one image.
        .AddTimeout(new TimeoutStrategyOptions { Timeout = settings.PerImageDeadline })
        .AddRetry(new RetryStrategyOptions<ulong>
        {
            ShouldHandle = new PredicateBuilder<ulong>().Handle<Exception>(PullErrors.IsTransient),
            MaxRetryAttempts = settings.Retries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = settings.FirstRetryDelay,
            MaxDelay = TimeSpan.FromSeconds(30),
            OnRetry = args =>
            {
                lock (ctx) ctx.Output($"retrying in {args.RetryDelay.TotalSeconds:0.0}s after: {args.Outcome.Exception?.Message}");
                return ValueTask.CompletedTask;
            },
        })
        .Build();

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

/// <summary>How images are pulled: parallelism per node, deadline per image, transient retries.</summary>
public sealed record PullSettings
{
    public int Parallelism { get; init; } = 3;
    public TimeSpan PerImageDeadline { get; init; } = TimeSpan.FromMinutes(5);
    public int Retries { get; init; } = 4;
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
}
