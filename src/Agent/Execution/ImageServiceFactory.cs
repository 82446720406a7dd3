using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>Picks the image service for a plan's runtime, on its socket under the host root.</summary>
public sealed class ImageServiceFactory(HostRoot root)
{
    public IImageService? For(NodePlan plan)
    {
        var runtime = plan.Spec?.Runtime;
        if (runtime is null || string.IsNullOrEmpty(runtime.Endpoint)) return null;
        var socket = runtime.Endpoint.StartsWith("unix://", StringComparison.Ordinal) ? runtime.Endpoint["unix://".Length..] : runtime.Endpoint;
        return runtime.Kind switch
        {
            "containerd" or "cri-o" => new CriImageService(root.Path(socket)),
            _ => null,
        };
    }
}
