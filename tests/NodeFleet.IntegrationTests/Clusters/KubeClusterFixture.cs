using NodeFleet.Coordinator.Clusters;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;

namespace NodeFleet.IntegrationTests.Clusters;

/// <summary>
/// A Kubernetes API test server and the coordinator's connection to it, built from the kubeconfig file's bytes as
/// `cluster add` will: the real KubernetesClient over TLS with the server's CA and a bearer token.
/// </summary>
internal sealed class KubeCluster : IAsyncDisposable
{
    public required KubeApiServer Server { get; init; }
    public required ClusterConnection Connection { get; init; }
    public required TempDir Dir { get; init; }
    public required string Kubeconfig { get; init; }

    public static async Task<KubeCluster> StartAsync(string version = "1.31.4")
    {
        var server = await KubeApiServer.StartAsync(version);
        var dir = new TempDir("nf-cluster");
        var kubeconfig = server.WriteKubeconfig(dir.Combine("kubeconfig"));
        var connection = ClusterConnection.FromKubeconfig("test", await File.ReadAllBytesAsync(kubeconfig));
        return new KubeCluster { Server = server, Connection = connection, Dir = dir, Kubeconfig = kubeconfig };
    }

    /// <summary>Short timings, so a test of a blocked budget takes seconds rather than the production minutes.</summary>
    public Drainer Drainer(int parallelism = 8) => new(Connection.Client, new DrainerOptions
    {
        PollInterval = TimeSpan.FromMilliseconds(100),
        BlockedRetryDelay = TimeSpan.FromMilliseconds(100),
        BlockedRetryMaxDelay = TimeSpan.FromMilliseconds(400),
        Parallelism = parallelism,
    });

    public async ValueTask DisposeAsync()
    {
        Connection.Dispose();
        await Server.DisposeAsync();
        Dir.Dispose();
    }
}
