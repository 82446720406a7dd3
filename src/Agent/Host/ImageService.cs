using Grpc.Core;
using NodeFleet.Cri.V1;

namespace NodeFleet.Agent.Host;

/// <summary>The image-service port: what the prepull and verify phases need from a container runtime.</summary>
public interface IImageService
{
    string Describe { get; }
    Task<bool> IsPresentAsync(string image, CancellationToken ct);
    Task PullAsync(string image, CancellationToken ct);
    /// <summary>Null when the runtime answers, else why not.</summary>
    Task<string?> ProbeAsync(CancellationToken ct);
}

/// <summary>CRI ImageService over the runtime's unix socket (containerd, cri-o).</summary>
public sealed class CriImageService(string socketPath) : IImageService, IDisposable
{
    private readonly Grpc.Net.Client.GrpcChannel _channel = UnixSockets.GrpcChannel(socketPath);

    public string Describe => $"CRI at unix://{socketPath}";

    public async Task<bool> IsPresentAsync(string image, CancellationToken ct)
    {
        var r = await new ImageService.ImageServiceClient(_channel)
            .ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        return r.Image is not null && !string.IsNullOrEmpty(r.Image.Id);
    }

    public async Task PullAsync(string image, CancellationToken ct)
    {
        try
        {
            await new ImageService.ImageServiceClient(_channel)
                .PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
        }
        catch (RpcException e)
        {
            throw new ImagePullException(image, $"{Describe}: {e.StatusCode}: {e.Status.Detail}", e);
        }
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

    public void Dispose() => _channel.Dispose();
}

/// <summary>A pull that failed, naming the image and the runtime's own message.</summary>
public sealed class ImagePullException(string image, string message, Exception? inner = null)
    : Exception($"pull of {image} failed: {message}", inner)
{
    public string Image { get; } = image;
}
