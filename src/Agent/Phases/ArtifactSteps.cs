using System.Security.Cryptography;
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

/// <summary>`stage-artifacts`: downloads one artifact into the cache and checks its sha256; a mismatch touches nothing else.</summary>
public sealed class StageArtifactStep(Artifact artifact, HttpClient http) : IStep
{
    public string Id => $"download-{artifact.Name}";

    public Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        var cached = ctx.Files.Root.Path(ArtifactCache.HostPath(artifact.Sha256));
        if (File.Exists(cached) && HostFiles.Sha256File(cached) == artifact.Sha256)
            return Task.FromResult<CheckResult>(new CheckResult.Satisfied($"{artifact.Name} is cached"));
        return Task.FromResult<CheckResult>(new CheckResult.NeedsApply($"would download {artifact.Url} (sha256 {artifact.Sha256})"));
    }

    public async Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        var cached = ctx.Files.Root.Path(ArtifactCache.HostPath(artifact.Sha256));
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        var tmp = $"{cached}.{Guid.NewGuid():N}.part";
        try
        {
            using var response = await http.GetAsync(artifact.Url, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
                throw new StepFailedException($"download of {artifact.Url} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            string actual;
            await using (var body = await response.Content.ReadAsStreamAsync(ct))
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                long total = 0;
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct);
                    total += n;
                }
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
                actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                ctx.Output($"downloaded {artifact.Url}: {total} bytes, sha256 {actual}");
            }
            if (actual != artifact.Sha256)
                throw new StepFailedException($"checksum mismatch for {artifact.Name} from {artifact.Url}: expected sha256 {artifact.Sha256}, got {actual}");
            File.Move(tmp, cached, overwrite: true);
        }
        catch (HttpRequestException e)
        {
            throw new StepFailedException($"download of {artifact.Url} failed: {e.Message}", e);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
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
        var target = ctx.Files.Root.Path(artifact.InstallPath);
        if (File.Exists(target) && File.GetUnixFileMode(target) == Mode && HostFiles.Sha256File(target) == artifact.Sha256)
            return Task.FromResult<CheckResult>(new CheckResult.Satisfied($"{artifact.InstallPath} is installed"));
        return Task.FromResult<CheckResult>(new CheckResult.NeedsApply(
            $"would install {artifact.Name} (sha256 {artifact.Sha256[..12]}…) at {artifact.InstallPath} mode {artifact.Mode}"));
    }

    public Task ApplyAsync(StepContext ctx, CancellationToken ct)
    {
        var cached = ctx.Files.Root.Path(ArtifactCache.HostPath(artifact.Sha256));
        if (!File.Exists(cached) || HostFiles.Sha256File(cached) != artifact.Sha256)
            throw new StepFailedException($"{artifact.Name} is not in the cache (the stage-artifacts phase did not run or was skipped)");
        ctx.InstallFile(cached, artifact.InstallPath, Mode);
        ctx.Output($"installed {artifact.InstallPath}");
        return Task.CompletedTask;
    }

    public Task<string?> VerifyAsync(StepContext ctx, CancellationToken ct)
    {
        var target = ctx.Files.Root.Path(artifact.InstallPath);
        return Task.FromResult(File.Exists(target) && HostFiles.Sha256File(target) == artifact.Sha256
            ? null : $"{artifact.InstallPath} does not have sha256 {artifact.Sha256}");
    }
}
