using k8s;
using k8s.Exceptions;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>
/// A connection to one cluster's API server, built from a kubeconfig file's bytes and an optional context. The
/// kubeconfig holds credentials (tokens, client keys), so neither it nor the client's configuration is ever put in a
/// message, a log line or <see cref="ToString"/>: only the cluster's name, context and server address are.
/// </summary>
public sealed class ClusterConnection : IDisposable
{
    /// <summary>The NodeFleet name of the cluster (as `cluster add NAME` gives it).</summary>
    public string Name { get; }

    /// <summary>The kubeconfig context in use.</summary>
    public string Context { get; }

    /// <summary>The API server's address (not a secret: it is what `cluster list` shows).</summary>
    public string Server { get; }

    /// <summary>The official client, for every call to the API server.</summary>
    public IKubernetes Client { get; }

    private ClusterConnection(string name, string context, string server, IKubernetes client) =>
        (Name, Context, Server, Client) = (name, context, server, client);

    /// <summary>
    /// Builds the connection; a kubeconfig that does not parse, lacks the context or names no server throws a
    /// <see cref="ClusterConfigException"/> whose message names the cluster and the problem, never the file's content.
    /// </summary>
    public static ClusterConnection FromKubeconfig(string name, ReadOnlyMemory<byte> kubeconfig, string? context = null,
        TimeSpan? requestTimeout = null)
    {
        KubernetesClientConfiguration config;
        try
        {
            using var stream = new MemoryStream(kubeconfig.ToArray(), writable: false);
            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(stream, currentContext: context);
        }
        catch (KubeConfigException e)
        {
            // The client's own messages name contexts, clusters and users, not credentials.
            throw new ClusterConfigException($"cluster {name}: the kubeconfig is not usable: {e.Message}");
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or ArgumentException or FormatException or InvalidOperationException)
        {
            // A YAML parser's message may quote the offending line, which may hold a token: say only where.
            throw new ClusterConfigException($"cluster {name}: the kubeconfig is not valid YAML ({e.GetType().Name})");
        }
        if (string.IsNullOrEmpty(config.Host))
            throw new ClusterConfigException($"cluster {name}: the kubeconfig's context names no server");
        config.HttpClientTimeout = requestTimeout ?? TimeSpan.FromSeconds(30);
        return new ClusterConnection(name, config.CurrentContext ?? context ?? "", config.Host, new Kubernetes(config));
    }

    public override string ToString() => $"cluster {Name} (context {Context}, server {Server})";

    public void Dispose() => Client.Dispose();
}

/// <summary>A kubeconfig that cannot be used; the message never contains the kubeconfig's content.</summary>
public sealed class ClusterConfigException(string message) : Exception(message);
