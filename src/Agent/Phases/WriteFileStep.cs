using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;

namespace NodeFleet.Agent.Phases;

/// <summary>
/// Renders a file from what is there now (null when absent, or a symbolic link) and writes it only when the bytes differ.
/// Rendering is pure; the write goes through the context, which journals the backup first.
/// </summary>
public sealed class WriteFileStep(
    string id,
    string hostPath,
    Func<byte[]?, byte[]> render,
    UnixFileMode mode,
    IReadOnlyList<string>? affects = null,
    bool needsDaemonReload = false) : IStep
{
    public string Id { get; } = id;
    public string HostPath { get; } = hostPath;
    public IReadOnlyList<string> Affects { get; } = affects ?? [];
    public bool NeedsDaemonReload { get; } = needsDaemonReload;

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        var current = ctx.Files.Read(HostPath);
        byte[] desired;
        try { desired = render(current); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Task.FromResult<CheckResult>(new CheckResult.Blocked($"cannot render {HostPath}: {e.Message}"));
        }
        if (current is not null && current.AsSpan().SequenceEqual(desired) && ctx.Files.Mode(HostPath) == mode)
            return Task.FromResult<CheckResult>(new CheckResult.Satisfied($"{HostPath} is up to date"));
        var actions = new List<string> { $"would write {HostPath}" };
        // A link is not read through: its place gets a regular file, rendered as if nothing were there.
        if (ctx.Files.Stat(HostPath) is { Kind: EntryKind.SymbolicLink } link)
            actions.Add($"would replace the symbolic link {HostPath} (to {link.LinkTarget}) with a regular file");
        actions.Add(NodeFleet.Rendering.UnifiedDiff.Create(HostPath, current, desired));
        if (current is not null && current.AsSpan().SequenceEqual(desired)) actions.Add($"would change mode of {HostPath} to {Convert.ToString((int)mode, 8)}");
        return Task.FromResult<CheckResult>(new CheckResult.NeedsApply(actions));
    }

    public Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        var desired = render(ctx.Files.Read(HostPath));
        if (ctx.WriteFile(HostPath, desired, mode)) ctx.Output($"wrote {HostPath} ({desired.Length} bytes)");
        return Task.CompletedTask;
    }

    public Task<string?> VerifyAsync(StepContext ctx, CancellationToken ct)
    {
        var now = ctx.Files.Read(HostPath);
        var desired = render(now);
        return Task.FromResult(now is not null && now.AsSpan().SequenceEqual(desired) ? null : $"{HostPath} does not hold the rendered content");
    }
}
