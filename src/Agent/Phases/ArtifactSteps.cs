using System.Security.Cryptography;
using NodeFleet.Config;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Phases;

/// <summary>The agent's content-addressed download cache (/var/lib/nodefleet-agent/cache/&lt;sha256&gt;).</summary>
public static class ArtifactCache
{
    public const string Dir = AgentPaths.StateDir + "/cache";
    public static string HostPath(string sha256) => $"{Dir}/{sha256}";
}

/// <summary>
/// Bounds of one artifact download, so that a mirror that stalls or streams without end fails the step with a reason
/// instead of holding the plan worker (and every later plan and rollback) or filling /var/lib.
/// </summary>
public sealed record DownloadLimits(TimeSpan ResponseTimeout, TimeSpan StallTimeout, long MaxBytes, TimeSpan TotalTimeout)
{
    /// <summary>
    /// Headers within 2 minutes, no 60 s without a byte, at most 2 GiB (a kubelet is about 100 MB), all of it within
    /// 30 minutes (a server that trickles a byte a minute never stalls).
    /// </summary>
    public static readonly DownloadLimits Default = new(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(60), 2L << 30, TimeSpan.FromMinutes(30));
}

/// <summary>`stage-artifacts`: downloads one artifact into the cache and checks its sha256; a mismatch touches nothing else.</summary>
public sealed class StageArtifactStep(Artifact artifact, INetwork network, DownloadLimits? limits = null) : IStep
{
    private readonly DownloadLimits _limits = limits ?? DownloadLimits.Default;

    public string Id => $"download-{artifact.Name}";

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        if (ctx.Files.Sha256Of(ArtifactCache.HostPath(artifact.Sha256)) == artifact.Sha256)
            return Task.FromResult<CheckResult>(new CheckResult.Satisfied($"{artifact.Name} is cached"));
        return Task.FromResult<CheckResult>(new CheckResult.NeedsApply($"would download {artifact.Url} (sha256 {artifact.Sha256})"));
    }

    public async Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        // The file port makes (or finds) the cache a real directory, in the 0700 state directory: a link there would
        // send the download elsewhere.
        var cached = ArtifactCache.HostPath(artifact.Sha256);
        var tmp = $"{cached}.{Guid.NewGuid():N}.part";
        // One timer for the whole download, re-armed before each wait: the response, then every read of the body.
        using var whole = CancellationTokenSource.CreateLinkedTokenSource(ct);
        whole.CancelAfter(_limits.TotalTimeout);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(whole.Token);
        var waitingFor = "";
        long total = 0;
        try
        {
            waitingFor = $"no response within {Durations.Format(_limits.ResponseTimeout)}";
            deadline.CancelAfter(_limits.ResponseTimeout);
            using var response = await network.GetAsync(artifact.Url, deadline.Token);
            if (!response.IsSuccessStatusCode)
                throw new StepFailedException($"download of {artifact.Url} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            if (response.Content.Headers.ContentLength is { } length && length > _limits.MaxBytes)
                throw new StepFailedException($"download of {artifact.Url} refused: it is {length} bytes, more than the {_limits.MaxBytes} an artifact may have");
            string actual;
            await using (var body = await response.Content.ReadAsStreamAsync(deadline.Token))
            await using (var file = ctx.Files.CreateNew(tmp))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                int n;
                waitingFor = $"no data for {Durations.Format(_limits.StallTimeout)}";
                while (true)
                {
                    deadline.CancelAfter(_limits.StallTimeout);
                    if ((n = await body.ReadAsync(buffer, deadline.Token)) <= 0) break;
                    total += n;
                    if (total > _limits.MaxBytes)
                        throw new StepFailedException($"download of {artifact.Url} stopped: more than the {_limits.MaxBytes} bytes an artifact may have");
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                }
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
                actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                ctx.Output($"downloaded {artifact.Url}: {total} bytes, sha256 {actual}");
            }
            if (actual != artifact.Sha256)
                throw new StepFailedException($"checksum mismatch for {artifact.Name} from {artifact.Url}: expected sha256 {artifact.Sha256}, got {actual}");
            ctx.Files.Move(tmp, cached);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new StepFailedException($"download of {artifact.Url} failed: " + (whole.IsCancellationRequested
                ? $"not done within {Durations.Format(_limits.TotalTimeout)} ({total} bytes so far)"
                : waitingFor));
        }
        catch (HttpRequestException e)
        {
            throw new StepFailedException($"download of {artifact.Url} failed: {Causes(e)}", e);
        }
        catch (IOException e)
        {
            // The body's stream ended badly (connection reset mid-transfer), or the cache's disk failed (with its path).
            throw new StepFailedException($"download of {artifact.Url} failed: {Causes(e)}", e);
        }
        finally
        {
            ctx.Files.Delete(tmp);
        }
    }

    /// <summary>
    /// The messages of an exception and those behind it: HttpClient's own ("An error occurred while sending the
    /// request.") says nothing; the socket's ("Connection refused (host:port)") does.
    /// </summary>
    internal static string Causes(Exception e)
    {
        var messages = new List<string>();
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is HttpRequestException && x.InnerException is not null && x.Message.StartsWith("An error occurred while sending", StringComparison.Ordinal)) continue;
            if (!messages.Contains(x.Message)) messages.Add(x.Message);
        }
        return string.Join(": ", messages);
    }
}

/// <summary>`install-artifacts`: puts a cached artifact in place by rename; the replaced file is kept for undo.</summary>
public sealed class InstallArtifactStep(Artifact artifact) : IStep
{
    public string Id => $"install-{artifact.Name}";

    public IReadOnlyList<string> Affects { get; } = Path.GetFileName(artifact.InstallPath) is "kubelet" ? ["kubelet"] : [];

    private UnixFileMode Mode => (UnixFileMode)Convert.ToInt32(artifact.Mode.Length > 0 ? artifact.Mode : "0755", 8);

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        // A link at the install path is never taken for the artifact, even to a file with its bytes: it is replaced.
        if (ctx.Files.Mode(artifact.InstallPath) == Mode && ctx.Files.Sha256Of(artifact.InstallPath) == artifact.Sha256)
            return Task.FromResult<CheckResult>(new CheckResult.Satisfied($"{artifact.InstallPath} is installed"));
        return Task.FromResult<CheckResult>(new CheckResult.NeedsApply(
            $"would install {artifact.Name} (sha256 {artifact.Sha256[..12]}…) at {artifact.InstallPath} mode {artifact.Mode}"));
    }

    public Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        // Checked again here, right before the write, whatever validated the plan before: the coordinator's checks are
        // not this agent's, and a file outside the allow-list (systemctl, sudo) is code run as root.
        if (NodeFleet.Plans.PlanInstallTargets.Error(artifact.InstallPath) is { } refused)
            throw new StepFailedException($"refused to install {artifact.Name} at {artifact.InstallPath}: {refused}");
        if (ctx.Files.Sha256Of(ArtifactCache.HostPath(artifact.Sha256)) != artifact.Sha256)
            throw new StepFailedException($"{artifact.Name} is not in the cache (the stage-artifacts phase did not run or was skipped)");
        ctx.InstallFile(ctx.Files.Root.Path(ArtifactCache.HostPath(artifact.Sha256)), artifact.InstallPath, Mode);
        ctx.Output($"installed {artifact.InstallPath}");
        return Task.CompletedTask;
    }

    public Task<string?> VerifyAsync(StepContext ctx, CancellationToken ct)
    {
        return Task.FromResult(ctx.Files.Sha256Of(artifact.InstallPath) == artifact.Sha256
            ? null : $"{artifact.InstallPath} does not have sha256 {artifact.Sha256}");
    }
}
