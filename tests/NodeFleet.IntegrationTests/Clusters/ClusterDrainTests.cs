using NodeFleet.Coordinator.Clusters;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests.Clusters;

/// <summary>
/// The coordinator's drain (the real KubernetesClient, the Eviction API) against the Kubernetes API test server:
/// what stays, what goes, budgets never violated (from the server's record), a budget that blocks to the timeout,
/// onTimeout: delete, refusals, and a drain resumed after an interruption evicting no pod twice.
/// </summary>
public sealed class ClusterDrainTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> Web = new() { ["app"] = "web" };
    private static readonly Dictionary<string, string> Db = new() { ["app"] = "db" };

    private void Show(KubeApiServer server, DrainResult? result = null)
    {
        foreach (var e in server.Record) output.WriteLine(e.ToString());
        if (result is not null) output.WriteLine(result.Describe());
        Assert.Empty(server.Unserved);
    }

    private static List<string> Evictions(KubeApiServer server) =>
        server.Record.Where(e => e.Action == KubeApiActions.Evicted).Select(e => e.Target).ToList();

    [Fact]
    public async Task Drain_leaves_daemonset_and_mirror_pods_and_evicts_managed_pods_without_violating_the_budget()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        c.Server.AddDaemonSet("kube-system", "kube-proxy");
        c.Server.AddPod(new TestPod("kube-system", "kube-proxy-n1", "n1") { Owner = PodOwner.DaemonSet("kube-proxy") });
        c.Server.AddPod(new TestPod("kube-system", "etcd-n1", "n1") { Mirror = true });
        // Three web pods on n1 under a budget allowing one disruption: they must leave one at a time.
        c.Server.AddReplicaSet(new TestReplicaSet("default", "web", 3, Web)
        {
            PodTerminationDelay = TimeSpan.FromMilliseconds(200), ReadyAfter = TimeSpan.FromMilliseconds(200),
        }, "n1");
        c.Server.AddPodDisruptionBudget("default", "web-pdb", Web, maxUnavailable: "1");
        await Cordon.CordonAsync(c.Connection.Client, "n1", TimeProvider.System);

        var seen = new List<DrainObservation>();
        var result = await c.Drainer().DrainAsync("n1", DrainSpec.Default with { Timeout = TimeSpan.FromSeconds(20) },
            observe: (o, _) => { seen.Add(o); return ValueTask.CompletedTask; });
        Show(c.Server, result);

        Assert.Equal(DrainOutcome.Drained, result.Outcome);
        Assert.Equal(["kube-system/etcd-n1", "kube-system/kube-proxy-n1"], c.Server.PodsOn("n1"));
        Assert.Equal(["default/web-0", "default/web-1", "default/web-2"], result.Evicted.Select(p => p.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal(["kube-system/etcd-n1: mirror pod of a static pod", "kube-system/kube-proxy-n1: DaemonSet-managed (kube-proxy)"],
            result.Skipped.Select(s => s.ToString()).Order(StringComparer.Ordinal));
        // The budget held (asserted from the server's record, not from timing), and it did have to hold: some
        // evictions were refused and retried until a replacement was Ready.
        Assert.Equal(1, c.Server.MaxUnavailable("default/web-pdb"));
        Assert.Contains(c.Server.Record, e => e.Action == KubeApiActions.EvictionRefused);
        Assert.Equal(3, Evictions(c.Server).Count);
        Assert.Contains(seen, o => o is EvictionBlocked { Budget: "web-pdb" });
        Assert.Equal(3, seen.OfType<PodGone>().Count());
        Assert.Equal(3, result.Progress.EvictedUids.Count);
    }

    [Fact]
    public async Task A_budget_that_never_allows_a_disruption_times_out_and_fails_naming_the_pod_and_the_budget()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        c.Server.AddReplicaSet(new TestReplicaSet("default", "db", 1, Db), "n1");
        c.Server.AddPodDisruptionBudget("default", "db-pdb", Db, minAvailable: "1");

        var blocked = new List<EvictionBlocked>();
        var started = DateTimeOffset.UtcNow;
        var result = await c.Drainer().DrainAsync("n1", DrainSpec.Default with { Timeout = TimeSpan.FromSeconds(1.5) },
            observe: (o, _) => { if (o is EvictionBlocked b) blocked.Add(b); return ValueTask.CompletedTask; });
        Show(c.Server, result);

        Assert.Equal(DrainOutcome.TimedOut, result.Outcome);
        Assert.InRange(DateTimeOffset.UtcNow - started, TimeSpan.FromSeconds(1.4), TimeSpan.FromSeconds(10));
        Assert.Equal("default/db-0", Assert.Single(result.Remaining).ToString());
        var why = Assert.Single(result.Blocked);
        Assert.Equal("db-pdb", why.Budget);
        Assert.Equal("The disruption budget db-pdb needs 1 healthy pods and has 1 currently", why.Message);
        Assert.True(why.Attempts >= 2, $"retried {why.Attempts} time(s)");
        // Told once (the message did not change), not once per retry.
        Assert.Equal("db-pdb", Assert.Single(blocked).Budget);
        Assert.Contains("default/db-0 blocked by budget db-pdb: The disruption budget db-pdb needs 1", result.Describe());
        Assert.NotNull(c.Server.Pod("default", "db-0"));
        Assert.Empty(Evictions(c.Server));
        Assert.Equal(0, c.Server.MaxUnavailable("default/db-pdb"));
    }

    [Fact]
    public async Task On_timeout_delete_removes_the_blocked_pods_with_the_grace_period_and_finishes()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        c.Server.AddReplicaSet(new TestReplicaSet("default", "db", 1, Db) { PodTerminationDelay = TimeSpan.FromMilliseconds(300) }, "n1");
        c.Server.AddPodDisruptionBudget("default", "db-pdb", Db, minAvailable: "1");

        var result = await c.Drainer().DrainAsync("n1", DrainSpec.Default with
        {
            Timeout = TimeSpan.FromSeconds(1), OnTimeout = DrainOnTimeout.Delete, GracePeriodSeconds = 5,
        });
        Show(c.Server, result);

        Assert.Equal(DrainOutcome.Drained, result.Outcome);
        Assert.Equal("default/db-0", Assert.Single(result.Deleted).ToString());
        Assert.Empty(result.Evicted);
        Assert.Empty(c.Server.PodsOn("n1"));
        var delete = Assert.Single(c.Server.Record, e => e.Action == KubeApiActions.DeletePod);
        Assert.Equal("pod/default/db-0", delete.Target);
        Assert.Contains(c.Server.Record, e => e.Action == KubeApiActions.PodGone && e.Target == "pod/default/db-0");
        Assert.Contains(c.Server.Requests, r => r.StartsWith("DELETE /api/v1/namespaces/default/pods/db-0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unmanaged_and_emptydir_pods_stop_the_drain_before_any_eviction_unless_allowed()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        c.Server.AddPod(new TestPod("default", "loose", "n1"));
        c.Server.AddPod(new TestPod("default", "cache-0", "n1") { Owner = PodOwner.ReplicaSet("cache"), EmptyDir = true });
        c.Server.AddPod(new TestPod("default", "api-0", "n1") { Owner = PodOwner.ReplicaSet("api"), Labels = new Dictionary<string, string> { ["tier"] = "api" } });

        var refused = await c.Drainer().DrainAsync("n1", DrainSpec.Default with { Timeout = TimeSpan.FromSeconds(5) });
        Assert.Equal(DrainOutcome.Refused, refused.Outcome);
        Assert.Equal(["default/cache-0", "default/loose"], refused.Refused.Select(r => r.Pod.ToString()).Order(StringComparer.Ordinal));
        Assert.Contains("force: true", refused.Describe());
        Assert.Contains("deleteEmptyDirData: true", refused.Describe());
        Assert.Empty(Evictions(c.Server));

        // A podSelector narrows the drain to the pods it matches; the others are not even looked at.
        var selected = await c.Drainer().DrainAsync("n1", DrainSpec.Default with { Timeout = TimeSpan.FromSeconds(5), PodSelector = "tier in (api, web)" });
        Assert.Equal(DrainOutcome.Drained, selected.Outcome);
        Assert.Equal(["pod/default/api-0"], Evictions(c.Server));

        var all = await c.Drainer().DrainAsync("n1", DrainSpec.Default with { Timeout = TimeSpan.FromSeconds(5), Force = true, DeleteEmptyDirData = true });
        Show(c.Server, all);
        Assert.Equal(DrainOutcome.Drained, all.Outcome);
        Assert.Empty(c.Server.PodsOn("n1"));
    }

    [Fact]
    public async Task A_drain_resumed_after_an_interruption_evicts_no_pod_twice()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        // Pods stay Terminating for a while, so the resumed drain finds the evicted ones still listed.
        c.Server.AddReplicaSet(new TestReplicaSet("default", "web", 4, Web) { PodTerminationDelay = TimeSpan.FromSeconds(1) }, "n1");
        var spec = DrainSpec.Default with { Timeout = TimeSpan.FromSeconds(20) };

        // The coordinator dies after two evictions: what it had persisted is the progress of the last observation.
        DrainProgress? persisted = null;
        using var crash = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => c.Drainer(parallelism: 1).DrainAsync("n1", spec, observe: (o, _) =>
        {
            if (o is PodEvicted e)
            {
                persisted = e.Progress;
                if (e.Progress.EvictedUids.Count == 2) crash.Cancel();
            }
            return ValueTask.CompletedTask;
        }, ct: crash.Token));
        Assert.Equal(2, persisted!.EvictedUids.Count);
        Assert.Equal(2, Evictions(c.Server).Count);
        Assert.Equal(2, c.Server.PodsOn("n1").Count(p => c.Server.Pod("default", p.Split('/')[1])?["metadata"]?["deletionTimestamp"] is not null));

        // A new drainer (a restarted coordinator) resumes from the persisted progress.
        var resumed = await c.Drainer().DrainAsync("n1", spec, resume: persisted);
        Show(c.Server, resumed);
        Assert.Equal(DrainOutcome.Drained, resumed.Outcome);
        Assert.Equal(2, resumed.Evicted.Count);
        Assert.Equal(persisted.StartedAt, resumed.Progress.StartedAt);
        Assert.Equal(4, resumed.Progress.EvictedUids.Count);
        // From the record: four evictions, one per pod, none of them of a pod already terminating.
        Assert.Equal(["pod/default/web-0", "pod/default/web-1", "pod/default/web-2", "pod/default/web-3"],
            Evictions(c.Server).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(c.Server.Record, e => e.Detail.Contains("already terminating", StringComparison.Ordinal));
        Assert.Empty(c.Server.PodsOn("n1"));

        // Even without the persisted progress, a third run finds nothing to evict.
        var again = await c.Drainer().DrainAsync("n1", spec);
        Assert.Equal((DrainOutcome.Drained, 0), (again.Outcome, again.Evicted.Count));
    }
}
