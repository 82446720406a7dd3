using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Labels;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Clusters;

/// <summary>
/// The cluster registry over a real LiteDB file: which cluster and Kubernetes Node a NodeFleet node maps to, the
/// checks of `cluster add` and `cluster remove`, and the connection cache. The API server here is an address nothing
/// listens on; the integration tests (ClusterCommandTests) use the Kubernetes API test server.
/// </summary>
public sealed class ClusterRegistryTests : IAsyncLifetime
{
    private const string Token = "s3cr3t-t0ken-never-shown";
    private readonly TempDir _dir = new();
    private LiteDbStore _store = null!;
    private ClusterRegistry _clusters = null!;

    public Task InitializeAsync()
    {
        _store = LiteDbStore.Open(_dir.File(LiteDbStore.FileName));
        _clusters = new ClusterRegistry(_store, new EventBus(), new ManualTime(), NullLogger<ClusterRegistry>.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _clusters.Dispose();
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>A kubeconfig with a bearer token for a server on a port nothing listens on (refused at once).</summary>
    private static byte[] Kubeconfig(string server = "https://127.0.0.1:1", string context = "admin@test") => Encoding.UTF8.GetBytes($"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: {server}
            insecure-skip-tls-verify: true
        users:
        - name: nodefleet
          user:
            token: {Token}
        contexts:
        - name: {context}
          context: {"{"}cluster: test, user: nodefleet{"}"}
        current-context: {context}
        """);

    private Task AddNodeAsync(string name, string? cluster = null, string? kubeName = null, string hostnameOverride = "") => _store.WriteAsync(s =>
    {
        var node = new NodeRecord { Name = name, Facts = { KubeletHostnameOverride = hostnameOverride } };
        if (cluster is not null) node.Labels[ClusterLabels.Cluster] = cluster;
        if (kubeName is not null) node.Labels[ClusterLabels.KubeNodeName] = kubeName;
        s.Nodes.Insert(node);
    });

    [Fact]
    public void Kubernetes_node_name_is_the_label_then_the_hostname_override_then_the_nodefleet_name()
    {
        var node = new NodeRecord { Name = "n1" };
        Assert.Equal("n1", ClusterLabels.KubeNodeNameOf(node));
        node.Facts.KubeletHostnameOverride = "Worker-1.Example";
        // The kubelet lower-cases the override.
        Assert.Equal("worker-1.example", ClusterLabels.KubeNodeNameOf(node));
        node.Labels[ClusterLabels.KubeNodeName] = "w1";
        Assert.Equal("w1", ClusterLabels.KubeNodeNameOf(node));
        node.Labels[ClusterLabels.KubeNodeName] = "";
        Assert.Equal("worker-1.example", ClusterLabels.KubeNodeNameOf(node));
    }

    [Fact]
    public async Task A_node_resolves_to_its_cluster_by_label_and_one_connection_is_shared_until_the_record_changes()
    {
        var added = await _clusters.AddAsync("prod", Kubeconfig(), "");
        Assert.False(added.Status.Reachable);
        await AddNodeAsync("n1", "prod");
        await AddNodeAsync("n2", "prod", kubeName: "k8s-n2", hostnameOverride: "ignored");
        await AddNodeAsync("n3", "prod", hostnameOverride: "node-3");
        await AddNodeAsync("host-only");

        Assert.Null(await _clusters.ForNodeAsync("host-only"));
        Assert.Null(await _clusters.ForNodeAsync("no-such-node"));
        var n1 = (await _clusters.ForNodeAsync("n1"))!;
        Assert.Equal(("prod", "n1", "https://127.0.0.1:1", "admin@test"), (n1.Cluster, n1.KubeNodeName, n1.Connection.Server, n1.Connection.Context));
        Assert.Equal("k8s-n2", (await _clusters.ForNodeAsync("n2"))!.KubeNodeName);
        var n3 = (await _clusters.ForNodeAsync("n3"))!;
        Assert.Equal("node-3", n3.KubeNodeName);
        Assert.Same(n1.Connection, n3.Connection);

        // Another coordinator on the same database changes the record: the next lookup builds a new connection.
        var record = _store.KubeClusters.Get("prod")!;
        record.Kubeconfig = Kubeconfig(server: "https://127.0.0.1:2");
        await _store.WriteAsync(s => s.KubeClusters.Update(record));
        var again = (await _clusters.ForNodeAsync("n1"))!;
        Assert.NotSame(n1.Connection, again.Connection);
        Assert.Equal("https://127.0.0.1:2", again.Connection.Server);
    }

    [Fact]
    public async Task A_node_naming_an_unregistered_cluster_is_refused_with_the_command_that_adds_it()
    {
        await AddNodeAsync("n1", "staging");
        var e = await Assert.ThrowsAsync<FailedPreconditionException>(() => _clusters.ForNodeAsync("n1"));
        Assert.Contains("node n1 names cluster staging", e.Message);
        Assert.Contains("nodefleet cluster add staging", e.Message);

        // The views never fail: the node shows why.
        var views = await _clusters.ViewsAsync(_store.Nodes.List(LabelSelector.Parse("")));
        var view = views["n1"];
        Assert.False(view.Reachable);
        Assert.Contains("cluster staging is not registered", view.Error);
    }

    [Fact]
    public async Task Add_refuses_bad_names_unusable_kubeconfigs_and_taken_names_and_stores_an_unreachable_one()
    {
        var badName = await Assert.ThrowsAsync<InvalidArgumentException>(() => _clusters.AddAsync("Prod_1", Kubeconfig(), ""));
        Assert.Contains("cluster name 'Prod_1'", badName.Message);
        var noContext = await Assert.ThrowsAsync<InvalidArgumentException>(() => _clusters.AddAsync("prod", Kubeconfig(), "other"));
        Assert.Contains("cluster prod", noContext.Message);
        var notYaml = await Assert.ThrowsAsync<InvalidArgumentException>(() =>
            _clusters.AddAsync("prod", Encoding.UTF8.GetBytes($"users: [{{token: {Token}"), ""));
        Assert.Contains("cluster prod", notYaml.Message);
        Assert.DoesNotContain(Token, notYaml.Message);
        Assert.Empty(_store.KubeClusters.List());

        var added = await _clusters.AddAsync("prod", Kubeconfig(), "admin@test");
        Assert.False(added.Status.Reachable);
        Assert.NotNull(added.Status.Error);
        Assert.DoesNotContain(Token, added.Status.Error);
        Assert.Equal(("admin@test", "https://127.0.0.1:1"), (added.Record.Context, added.Record.Server));
        Assert.Equal(Kubeconfig(), _store.KubeClusters.Get("prod")!.Kubeconfig);
        var taken = await Assert.ThrowsAsync<AlreadyExistsException>(() => _clusters.AddAsync("prod", Kubeconfig(), ""));
        Assert.Contains("cluster prod already exists", taken.Message);

        var listed = Assert.Single(await _clusters.ListAsync());
        Assert.Equal(("prod", false, 0), (listed.Record.Name, listed.Status.Reachable, listed.LinkedNodes));
    }

    [Fact]
    public async Task Remove_is_refused_while_nodes_name_the_cluster_unless_forced()
    {
        await _clusters.AddAsync("prod", Kubeconfig(), "");
        await AddNodeAsync("n1", "prod");
        await AddNodeAsync("n2", "prod");
        await AddNodeAsync("n3", "dev");
        Assert.Equal(2, Assert.Single(await _clusters.ListAsync()).LinkedNodes);

        var refused = await Assert.ThrowsAsync<FailedPreconditionException>(() => _clusters.RemoveAsync("prod", force: false));
        Assert.Contains("cluster prod is still named by 2 node(s): n1, n2", refused.Message);
        Assert.NotNull(_store.KubeClusters.Get("prod"));

        Assert.Equal(["n1", "n2"], await _clusters.RemoveAsync("prod", force: true));
        Assert.Null(_store.KubeClusters.Get("prod"));
        await Assert.ThrowsAsync<NotFoundException>(() => _clusters.RemoveAsync("prod", force: true));
        await Assert.ThrowsAsync<FailedPreconditionException>(() => _clusters.ForNodeAsync("n1"));
    }
}
