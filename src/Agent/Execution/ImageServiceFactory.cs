using NodeFleet.Agent.Host;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Picks the runtime port for a plan's runtime (or a runtime found on the node), on its socket under the host root,
/// with the plan's mirrors and credentials. The connections are shared by every step and closed with the factory.
/// </summary>
public sealed class ImageServiceFactory(HostRoot root, HostFiles files) : IDisposable
{
    private readonly RuntimeConnections _connections = new();

    public IImageService? For(NodePlan plan)
    {
        var runtime = plan.Spec?.Runtime;
        if (runtime is null || string.IsNullOrEmpty(runtime.Endpoint)) return null;
        var mirrors = new MirrorMap(plan.Spec!.Registry?.Mirrors.ToDictionary(m => m.Key, m => (IReadOnlyList<string>)m.Value.Endpoints.ToList())
            ?? new Dictionary<string, IReadOnlyList<string>>());
        // Read at pull time, so a missing or bad credentials file fails the pull with its own message.
        var path = plan.Spec.Registry?.CredentialsFile;
        return Create(runtime.Kind, runtime.Endpoint, mirrors, () => RegistryCredentials.Load(files, path));
    }

    /// <summary>The runtime at <paramref name="endpoint"/> (unix://HOST-PATH or a host path), for its facts; no mirrors, no credentials.</summary>
    public IImageService? ForRuntime(string kind, string endpoint) => Create(kind, endpoint, MirrorMap.None, () => RegistryCredentials.Empty);

    private IImageService? Create(string kind, string endpoint, MirrorMap mirrors, Func<RegistryCredentials> credentials)
    {
        var socket = root.Path(endpoint.StartsWith("unix://", StringComparison.Ordinal) ? endpoint["unix://".Length..] : endpoint);
        return kind switch
        {
            PlanRuntimes.Containerd or PlanRuntimes.CriO =>
                new CriImageService(_connections.Cri(socket), socket, new PullRoute(files, kind, mirrors), credentials),
            PlanRuntimes.Docker => new DockerImageService(_connections.Docker(socket), socket, mirrors, credentials),
            _ => null,
        };
    }

    public void Dispose() => _connections.Dispose();
}
