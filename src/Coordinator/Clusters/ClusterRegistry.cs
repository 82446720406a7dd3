using System.Collections.Concurrent;
using k8s;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>A cluster as `cluster list` shows it: the stored record (its kubeconfig is never read from here), a probe, linked nodes.</summary>
public sealed record ClusterSummary(KubeClusterRecord Record, ClusterStatus Status, int LinkedNodes);

/// <summary>
/// The Kubernetes view of a NodeFleet node in a cluster: null <see cref="Node"/> with <see cref="Error"/> set when the
/// cluster is not registered or did not answer; null <see cref="Node"/> and no error when it has no such Node.
/// </summary>
public sealed record NodeKubeView(string Cluster, string KubeNodeName, bool Reachable, string? Error, NodeView? Node);

/// <summary>
/// The Kubernetes clusters the coordinator holds credentials for, and which of them each node belongs to. Keeps one
/// connection per cluster, built when first needed and rebuilt when the stored record's revision moves on (another
/// coordinator on the same database may change it), disposed when the cluster is removed.
/// </summary>
public sealed partial class ClusterRegistry(ICoordinatorStore store, EventBus events, TimeProvider time, ILogger<ClusterRegistry> log)
    : INodeClusters, IDisposable
{
    /// <summary>How long `cluster add`, `cluster list`, `nodes -o wide` and `node describe` wait for an API server.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (long Revision, ClusterConnection Connection)> _connections = new(StringComparer.Ordinal);
    private readonly Lock _connectionsLock = new();

    /// <summary>
    /// Stores the cluster once its kubeconfig parses, has the context and names a server. The API server is probed but
    /// an answer is not required (like `kubectl config set-cluster`, which never contacts it): the coordinator may reach
    /// it later, and the returned status tells the operator now.
    /// </summary>
    public async Task<ClusterSummary> AddAsync(string name, ReadOnlyMemory<byte> kubeconfig, string context, CancellationToken ct = default)
    {
        if (LabelSyntax.ClusterNameError(name) is { } nameError) throw new InvalidArgumentException(nameError);
        if (kubeconfig.IsEmpty) throw new InvalidArgumentException($"cluster {name}: the kubeconfig is empty");
        ClusterConnection connection;
        try { connection = ClusterConnection.FromKubeconfig(name, kubeconfig, context.Length > 0 ? context : null); }
        catch (ClusterConfigException e) { throw new InvalidArgumentException(e.Message); }
        if (store.KubeClusters.Get(name) is not null)
        {
            connection.Dispose();
            throw Exists(name);
        }
        ClusterStatus status;
        using (connection) status = await ProbeAsync(connection, ct);
        var record = new KubeClusterRecord
        {
            Name = name, Kubeconfig = kubeconfig.ToArray(), Context = connection.Context, Server = connection.Server,
            AddedAt = StoredTime.Of(time.GetUtcNow().UtcDateTime),
        };
        await store.WriteAsync(s =>
        {
            if (s.KubeClusters.Get(name) is not null) throw Exists(name);
            s.KubeClusters.Insert(record);
            s.AddEvent(events, new EventRecord
            {
                Time = record.AddedAt, Type = status.Reachable ? "Normal" : "Warning", Reason = "ClusterAdded",
                Message = status.Reachable
                    ? $"cluster {name} added (server {record.Server}, Kubernetes {status.ServerVersion}, {status.NodeCount} nodes)"
                    : $"cluster {name} added (server {record.Server}), but its API server did not answer: {status.Error}",
            });
        });
        if (status.Reachable) LogAdded(name, record.Server, record.Context);
        else LogAddedUnreachable(name, record.Server, record.Context, status.Error ?? "");
        return new ClusterSummary(record, status, LinkedNodes(name).Count);
    }

    /// <summary>Every cluster, probed together (each within <see cref="ProbeTimeout"/>), with how many nodes name it.</summary>
    public async Task<IReadOnlyList<ClusterSummary>> ListAsync(CancellationToken ct = default)
    {
        var records = store.KubeClusters.List();
        var linked = store.Nodes.List(LabelSelector.Parse(ClusterLabels.Cluster))
            .GroupBy(n => ClusterLabels.ClusterOf(n) ?? "", StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var statuses = await Task.WhenAll(records.Select(r => ProbeAsync(r, ct)));
        return records.Select((r, i) => new ClusterSummary(r, statuses[i], linked.GetValueOrDefault(r.Name))).ToList();
    }

    /// <summary>
    /// Removes the cluster; refused while NodeFleet nodes name it unless <paramref name="force"/> (their label stays:
    /// they show as in an unregistered cluster). Returns the nodes that named it.
    /// </summary>
    public async Task<IReadOnlyList<string>> RemoveAsync(string name, bool force)
    {
        var linked = await store.WriteAsync(s =>
        {
            if (s.KubeClusters.Get(name) is null) throw NotFound(name);
            var nodes = s.Nodes.List(LabelSelector.Parse($"{ClusterLabels.Cluster}={name}")).Select(n => n.Name).ToList();
            if (nodes.Count > 0 && !force)
                throw new FailedPreconditionException(
                    $"cluster {name} is still named by {nodes.Count} node(s): {Shorten(nodes)}; remove their label " +
                    $"(`nodefleet node label NODE {ClusterLabels.Cluster}-`) or use --force");
            s.KubeClusters.Delete(name);
            s.AddEvent(events, new EventRecord
            {
                Time = time.GetUtcNow().UtcDateTime, Type = "Normal", Reason = "ClusterRemoved",
                Message = nodes.Count == 0 ? $"cluster {name} removed" : $"cluster {name} removed (forced; still named by {Shorten(nodes)})",
            });
            return nodes;
        });
        Forget(name);
        LogRemoved(name, linked.Count);
        return linked;
    }

    /// <inheritdoc />
    public Task<NodeCluster?> ForNodeAsync(string node, CancellationToken ct = default)
    {
        var record = store.Nodes.Get(node);
        if (record is null || ClusterLabels.ClusterOf(record) is not { } cluster) return Task.FromResult<NodeCluster?>(null);
        var stored = store.KubeClusters.Get(cluster)
            ?? throw new FailedPreconditionException(
                $"node {node} names cluster {cluster} (label {ClusterLabels.Cluster}), which is not registered; add it with `nodefleet cluster add {cluster} --kubeconfig FILE`");
        return Task.FromResult<NodeCluster?>(new NodeCluster(cluster, ClusterLabels.KubeNodeNameOf(record), Connection(stored)));
    }

    /// <summary>
    /// The Kubernetes view of each given node that names a cluster: one Node list per cluster, each within
    /// <see cref="ProbeTimeout"/>; a cluster that does not answer gives its nodes an error, never fails the call.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, NodeKubeView>> ViewsAsync(IEnumerable<NodeRecord> nodes, CancellationToken ct = default)
    {
        var byCluster = nodes.Where(n => ClusterLabels.ClusterOf(n) is not null)
            .GroupBy(n => ClusterLabels.ClusterOf(n)!, StringComparer.Ordinal).ToList();
        var views = await Task.WhenAll(byCluster.Select(g => ClusterViewsAsync(g.Key, g.ToList(), ct)));
        return views.SelectMany(v => v).ToDictionary(v => v.Node, v => v.View, StringComparer.Ordinal);
    }

    private async Task<IEnumerable<(string Node, NodeKubeView View)>> ClusterViewsAsync(string cluster, List<NodeRecord> nodes, CancellationToken ct)
    {
        NodeKubeView Failed(NodeRecord n, string error) => new(cluster, ClusterLabels.KubeNodeNameOf(n), false, error, null);
        var record = store.KubeClusters.Get(cluster);
        if (record is null)
            return nodes.Select(n => (n.Name, Failed(n, $"cluster {cluster} is not registered (`nodefleet cluster add {cluster}`)")));
        ClusterConnection connection;
        try { connection = Connection(record); }
        catch (FailedPreconditionException e) { return nodes.Select(n => (n.Name, Failed(n, e.Message))); }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            var list = await connection.Client.CoreV1.ListNodeAsync(cancellationToken: timeout.Token);
            var found = list.Items.Select(NodeView.From).ToDictionary(v => v.Name, StringComparer.Ordinal);
            return nodes.Select(n =>
            {
                var kubeName = ClusterLabels.KubeNodeNameOf(n);
                return (n.Name, new NodeKubeView(cluster, kubeName, true, null, found.GetValueOrDefault(kubeName)));
            });
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var error = timeout.IsCancellationRequested ? "the API server did not answer in time" : KubeErrors.Describe(e);
            return nodes.Select(n => (n.Name, Failed(n, $"cluster {cluster}: {error}")));
        }
    }

    private async Task<ClusterStatus> ProbeAsync(KubeClusterRecord record, CancellationToken ct)
    {
        try { return await ProbeAsync(Connection(record), ct); }
        catch (FailedPreconditionException e) { return new ClusterStatus(false, null, null, e.Message); }
    }

    private static async Task<ClusterStatus> ProbeAsync(ClusterConnection connection, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ProbeTimeout);
        var status = await ClusterProbe.ProbeAsync(connection.Client, timeout.Token);
        ct.ThrowIfCancellationRequested();
        return status;
    }

    /// <summary>The cached connection of the record's revision, built (and the older one disposed) when missing.</summary>
    private ClusterConnection Connection(KubeClusterRecord record)
    {
        if (_connections.TryGetValue(record.Name, out var cached) && cached.Revision == record.Revision) return cached.Connection;
        lock (_connectionsLock)
        {
            if (_connections.TryGetValue(record.Name, out cached) && cached.Revision == record.Revision) return cached.Connection;
            ClusterConnection connection;
            try
            {
                connection = ClusterConnection.FromKubeconfig(record.Name, record.Kubeconfig, record.Context.Length > 0 ? record.Context : null);
            }
            catch (ClusterConfigException e)
            {
                // Checked when added, so only a record written by another version gets here.
                throw new FailedPreconditionException(e.Message);
            }
            _connections[record.Name] = (record.Revision, connection);
            if (cached.Connection is not null) cached.Connection.Dispose();
            return connection;
        }
    }

    private void Forget(string name)
    {
        lock (_connectionsLock)
        {
            if (_connections.TryRemove(name, out var cached)) cached.Connection.Dispose();
        }
    }

    private List<string> LinkedNodes(string name) =>
        store.Nodes.List(LabelSelector.Parse($"{ClusterLabels.Cluster}={name}")).Select(n => n.Name).ToList();

    private static string Shorten(IReadOnlyList<string> nodes) =>
        nodes.Count <= 10 ? string.Join(", ", nodes) : $"{string.Join(", ", nodes.Take(10))} and {nodes.Count - 10} more";

    private static AlreadyExistsException Exists(string name) =>
        new($"cluster {name} already exists; remove it first (`nodefleet cluster remove {name}`) to give it another kubeconfig");

    private static NotFoundException NotFound(string name) => new($"cluster {name} not found");

    public void Dispose()
    {
        lock (_connectionsLock)
        {
            foreach (var (_, cached) in _connections) cached.Connection.Dispose();
            _connections.Clear();
        }
    }

    [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Cluster {Cluster} added (server {Server}, context {Context})")]
    private partial void LogAdded(string cluster, string server, string context);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Warning,
        Message = "Cluster {Cluster} added (server {Server}, context {Context}), but its API server did not answer: {Error}")]
    private partial void LogAddedUnreachable(string cluster, string server, string context, string error);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Information, Message = "Cluster {Cluster} removed ({Linked} nodes still named it)")]
    private partial void LogRemoved(string cluster, int linked);
}
