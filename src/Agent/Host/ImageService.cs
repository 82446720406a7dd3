using Grpc.Core;
using NodeFleet.Cri.V1;

namespace NodeFleet.Agent.Host;

/// <summary>
/// The container-runtime port: what the prepull, verify and preflight phases and the node's facts need from a
/// container runtime (CRI for containerd and cri-o, the Engine API for Docker).
/// </summary>
public interface IImageService
{
    string Describe { get; }
    Task<bool> IsPresentAsync(string image, CancellationToken ct);
    /// <summary>Pulls one image; returns its size in bytes when the runtime tells.</summary>
    Task<ulong> PullAsync(string image, CancellationToken ct);
    /// <summary>Null when the runtime answers, else why not.</summary>
    Task<string?> ProbeAsync(CancellationToken ct);
    /// <summary>The runtime's version and cgroup driver, asked over its own API.</summary>
    Task<RuntimeInfo> InfoAsync(CancellationToken ct);
}

/// <summary>What a runtime says of itself; empty strings where it does not tell.</summary>
public sealed record RuntimeInfo(string Version, string CgroupDriver);

/// <summary>Where a plan's mirrors send a registry (registry → mirror endpoints, in order).</summary>
public sealed record MirrorMap(IReadOnlyDictionary<string, IReadOnlyList<string>> ByRegistry)
{
    public static MirrorMap None { get; } = new(new Dictionary<string, IReadOnlyList<string>>());
}

/// <summary>
/// CRI ImageService over the runtime's unix socket (containerd, cri-o). Mirrors are the runtime's own configuration,
/// so a failed pull names the mirror only when the node's runtime has it (<paramref name="route"/>), not because the
/// plan has one. The channel is shared (<see cref="RuntimeConnections"/>), not owned.
/// </summary>
public sealed class CriImageService(Grpc.Net.Client.GrpcChannel channel, string socketPath, PullRoute route, Func<RegistryCredentials> credentials) : IImageService
{
    public string Describe => $"CRI at unix://{socketPath}";

    public async Task<bool> IsPresentAsync(string image, CancellationToken ct)
    {
        var r = await new ImageService.ImageServiceClient(channel)
            .ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        return r.Image is not null && !string.IsNullOrEmpty(r.Image.Id);
    }

    public async Task<ulong> PullAsync(string image, CancellationToken ct)
    {
        var registry = NodeFleet.Plans.ImageReference.Parse(image).Registry;
        var request = new PullImageRequest { Image = new ImageSpec { Image = image } };
        if (Creds().For(registry) is { } c)
            request.Auth = new AuthConfig { Username = c.User, Password = c.Password, ServerAddress = registry };
        var client = new ImageService.ImageServiceClient(channel);
        try
        {
            await client.PullImageAsync(request, cancellationToken: ct);
        }
        catch (RpcException e)
        {
            throw new ImagePullException(image, $"from {registry}{route.Describe(registry)} ({Describe}): {e.StatusCode}: {e.Status.Detail}", e);
        }
        var status = await client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        return status.Image?.Size ?? 0;
    }

    public async Task<string?> ProbeAsync(CancellationToken ct)
    {
        if (!File.Exists(socketPath)) return $"{Describe}: the socket does not exist (is the runtime running?)";
        try
        {
            await new RuntimeService.RuntimeServiceClient(channel).VersionAsync(new VersionRequest { Version = "v1" }, cancellationToken: ct);
            return null;
        }
        catch (RpcException e)
        {
            return $"{Describe} does not answer: {e.Status.Detail}";
        }
    }

    public async Task<RuntimeInfo> InfoAsync(CancellationToken ct)
    {
        var client = new RuntimeService.RuntimeServiceClient(channel);
        var v = await client.VersionAsync(new VersionRequest { Version = "v1" }, cancellationToken: ct);
        try
        {
            var rc = await client.RuntimeConfigAsync(new RuntimeConfigRequest(), cancellationToken: ct);
            return new(v.RuntimeVersion, rc.Linux?.CgroupDriver == CgroupDriver.Cgroupfs ? "cgroupfs" : "systemd");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
            // Older runtimes (containerd < 1.7): read the driver from the verbose status config.
        }
        var status = await client.StatusAsync(new StatusRequest { Verbose = true }, cancellationToken: ct);
        var driver = status.Info.TryGetValue("config", out var config)
            ? config.Contains("\"SystemdCgroup\":true", StringComparison.Ordinal) ? "systemd" : "cgroupfs"
            : "";
        return new(v.RuntimeVersion, driver);
    }

    private RegistryCredentials Creds()
    {
        try { return credentials(); }
        catch (InvalidOperationException e) { throw new ImagePullException("(any image)", e.Message); }
    }
}

/// <summary>A pull that failed, naming the image, the registry (and mirror) and the runtime's own message.</summary>
public sealed class ImagePullException(string image, string message, Exception? inner = null, bool transient = false)
    : Exception($"pull of {image} failed: {message}", inner)
{
    public string Image { get; } = image;
    public bool Transient { get; } = transient;
}
