using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>Picks the image service for a plan's runtime, on its socket under the host root, with the plan's mirrors and credentials.</summary>
public sealed class ImageServiceFactory(HostRoot root, HostFiles files)
{
    public IImageService? For(NodePlan plan)
    {
        var runtime = plan.Spec?.Runtime;
        if (runtime is null || string.IsNullOrEmpty(runtime.Endpoint)) return null;
        var socket = root.Path(runtime.Endpoint.StartsWith("unix://", StringComparison.Ordinal) ? runtime.Endpoint["unix://".Length..] : runtime.Endpoint);
        var mirrors = new MirrorMap(plan.Spec!.Registry?.Mirrors.ToDictionary(m => m.Key, m => (IReadOnlyList<string>)m.Value.Endpoints.ToList())
            ?? new Dictionary<string, IReadOnlyList<string>>());
        // Read at pull time, so a missing or bad credentials file fails the pull with its own message.
        var path = plan.Spec.Registry?.CredentialsFile;
        RegistryCredentials Credentials() => RegistryCredentials.Load(files, path);
        return runtime.Kind switch
        {
            "containerd" or "cri-o" => new CriImageService(socket, mirrors, Credentials),
            "docker" => new DockerImageService(socket, mirrors, Credentials),
            _ => null,
        };
    }
}
