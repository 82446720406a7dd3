using NodeFleet.Net;
using Grpc.Core;
using NodeFleet.Cri.V1;

namespace NodeFleet.Agent.Host;

/// <summary>The image-service port: what the prepull and verify phases need from a container runtime.</summary>
public interface IImageService
{
    string Describe { get; }
    Task<bool> IsPresentAsync(string image, CancellationToken ct);
    /// <summary>Pulls one image; returns its size in bytes when the runtime tells.</summary>
    Task<ulong> PullAsync(string image, CancellationToken ct);
    /// <summary>Null when the runtime answers, else why not.</summary>
    Task<string?> ProbeAsync(CancellationToken ct);
}

/// <summary>Where a plan's mirrors send a registry, for messages that say which mirror failed.</summary>
public sealed record MirrorMap(IReadOnlyDictionary<string, IReadOnlyList<string>> ByRegistry)
{
    public static MirrorMap None { get; } = new(new Dictionary<string, IReadOnlyList<string>>());

    public string Describe(string registry) =>
        ByRegistry.TryGetValue(registry, out var m) && m.Count > 0 ? $" via mirror {string.Join(", ", m)}" : "";
}

/// <summary>CRI ImageService over the runtime's unix socket (containerd, cri-o); mirrors are the runtime's own config.</summary>
public sealed class CriImageService(string socketPath, MirrorMap mirrors, Func<RegistryCredentials> credentials) : IImageService, IDisposable
{
    private readonly Grpc.Net.Client.GrpcChannel _channel = UnixSockets.GrpcChannel(socketPath);

    public string Describe => $"CRI at unix://{socketPath}";

    public async Task<bool> IsPresentAsync(string image, CancellationToken ct)
    {
        var r = await new ImageService.ImageServiceClient(_channel)
            .ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        return r.Image is not null && !string.IsNullOrEmpty(r.Image.Id);
    }

    public async Task<ulong> PullAsync(string image, CancellationToken ct)
    {
        var registry = NodeFleet.Plans.ImageReference.Parse(image).Registry;
        var request = new PullImageRequest { Image = new ImageSpec { Image = image } };
        if (Creds().For(registry) is { } c)
            request.Auth = new AuthConfig { Username = c.User, Password = c.Password, ServerAddress = registry };
        var client = new ImageService.ImageServiceClient(_channel);
        try
        {
            await client.PullImageAsync(request, cancellationToken: ct);
        }
        catch (RpcException e)
        {
            throw new ImagePullException(image, $"from {registry}{mirrors.Describe(registry)} ({Describe}): {e.StatusCode}: {e.Status.Detail}", e);
        }
        var status = await client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        return status.Image?.Size ?? 0;
    }

    public async Task<string?> ProbeAsync(CancellationToken ct)
    {
        if (!File.Exists(socketPath)) return $"{Describe}: the socket does not exist (is the runtime running?)";
        try
        {
            await new RuntimeService.RuntimeServiceClient(_channel).VersionAsync(new VersionRequest { Version = "v1" }, cancellationToken: ct);
            return null;
        }
        catch (RpcException e)
        {
            return $"{Describe} does not answer: {e.Status.Detail}";
        }
    }

    private RegistryCredentials Creds()
    {
        try { return credentials(); }
        catch (InvalidOperationException e) { throw new ImagePullException("(any image)", e.Message); }
    }

    public void Dispose() => _channel.Dispose();
}

/// <summary>A pull that failed, naming the image, the registry (and mirror) and the runtime's own message.</summary>
public sealed class ImagePullException(string image, string message, Exception? inner = null, bool transient = false)
    : Exception($"pull of {image} failed: {message}", inner)
{
    public string Image { get; } = image;
    public bool Transient { get; } = transient;
}
