using NodeFleet.Agent.Execution;

namespace NodeFleet.Agent.Phases;

/// <summary>`verify`: the runtime answers.</summary>
public sealed class VerifyRuntimeStep : IStep
{
    public string Id => "runtime";

    public async Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        if (ctx.Images is null) return new CheckResult.Satisfied($"no API probe for runtime {ctx.Plan.Spec.Runtime.Kind}");
        var problem = await ctx.Images.ProbeAsync(ct);
        return problem is null ? new CheckResult.Satisfied($"{ctx.Images.Describe} answers") : new CheckResult.Blocked(problem);
    }

    public Task ApplyAsync(StepContext ctx, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>`verify`: every image of the plan is present in the runtime.</summary>
public sealed class VerifyImagesStep(IReadOnlyList<string> images) : IStep
{
    public string Id => "images";

    public async Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        if (ctx.Images is null) return new CheckResult.Satisfied("no image service to ask");
        // A runtime that does not answer is the reason, not each image's failed lookup.
        if (await ctx.Images.ProbeAsync(ct) is { } problem) return new CheckResult.Blocked($"cannot look for the images: {problem}");
        var missing = new List<string>();
        foreach (var i in images)
        {
            if (!await ctx.Images.IsPresentAsync(i, ct)) missing.Add(i);
        }
        return missing.Count == 0 ? new CheckResult.Satisfied($"{images.Count} images present") : new CheckResult.Blocked($"images missing: {string.Join(", ", missing)}");
    }

    public Task ApplyAsync(StepContext ctx, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>`verify`: the kubelet's healthz answers ok, when a kubelet is expected on this node.</summary>
public sealed class VerifyKubeletStep(NodeFleet.Agent.Host.INetwork network, string healthz = "http://127.0.0.1:10248/healthz") : IStep
{
    public string Id => "kubelet-healthz";

    public async Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        // A kubelet is expected when its binary is on the node.
        if (!ctx.Files.Exists("/usr/bin/kubelet")) return new CheckResult.Satisfied("no kubelet on this node");
        var deadline = ctx.Time.GetUtcNow() + TimeSpan.FromSeconds(60);
        string last = "";
        while (ctx.Time.GetUtcNow() < deadline)
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                using var response = await network.GetAsync(healthz, cts.Token);
                response.EnsureSuccessStatusCode();
                var body = await response.Content.ReadAsStringAsync(cts.Token);
                if (body.Trim() == "ok") return new CheckResult.Satisfied("kubelet healthz ok");
                last = $"healthz answered '{body.Trim()}'";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }
            await Task.Delay(TimeSpan.FromSeconds(2), ctx.Time, ct);
        }
        return new CheckResult.Blocked($"kubelet healthz at {healthz} not ok: {last}");
    }

    public Task ApplyAsync(StepContext ctx, CancellationToken ct) => Task.CompletedTask;
}
