using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;
using NodeFleet.Protocol.V1;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests.Clusters;

/// <summary>
/// One real coordinator, registered with one Kubernetes API test server (the stand-in for kube-apiserver) as cluster
/// "prod", shared by the tests of <see cref="ClusterUpgradeTests"/>; each test joins agents and adds Nodes of its own names.
/// </summary>
public sealed class ClusterUpgradeFixture : IAsyncLifetime
{
    public TestCluster Fleet { get; private set; } = null!;
    public KubeApiServer Kube { get; private set; } = null!;
    public AdminClients Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Kube = await KubeApiServer.StartAsync("1.31.4");
        Fleet = await TestCluster.StartAsync();
        Admin = new AdminClients(Fleet);
        var kubeconfig = Kube.WriteKubeconfig(Path.Combine(Fleet.Scratch, "kubeconfig"));
        await Fleet.CliOkAsync("cluster", "add", "prod", "--kubeconfig", kubeconfig);
    }

    public async Task DisposeAsync()
    {
        Admin.Dispose();
        await Fleet.DisposeAsync();
        await Kube.DisposeAsync();
    }
}

/// <summary>
/// Rollouts of nodes in a cluster through the real coordinator and agents, the Kubernetes API test server as the
/// cluster: each node cordoned, drained through the Eviction API under its PodDisruptionBudgets (asserted from the
/// server's record), upgraded by its agent, waited for Ready at the target version and uncordoned; control-plane nodes
/// first; a budget that blocks to the drain timeout; a Node never Ready. The test plays the kubelets: a node's Node
/// reports the target version once its agent has applied the plan.
/// </summary>
public sealed class ClusterUpgradeTests(ClusterUpgradeFixture f, ITestOutputHelper output) : IClassFixture<ClusterUpgradeFixture>
{
    // The API server is at v1.31.4: a minor upgrade needs a control-plane node in the rollout, a patch upgrade does not.
    private const string Minor = "v1.32.0";
    private const string Patch = "v1.31.5";
    private static readonly string[] Ignore = ["CRI", "Mirror-127.0.0.1:5000", "Port-10250", "Port-10256"];

    private static string Plan(string target = Patch, string drain = "", string timeouts = "", string kubeadm = "") => $"""
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: cluster-upgrade
        spec:
          kubernetesVersion: {target}
          runtime:
            kind: containerd
            cgroupDriver: systemd
          registry:
            mirrors:
              registry.k8s.io: ["http://127.0.0.1:5000"]
          kubelet:
            extraArgs: {"{"}max-pods: "50"{"}"}
          skipPhases: [prepull-images, verify]
        {drain}{timeouts}{kubeadm}
        """;

    /// <summary>Joins agents named <paramref name="names"/> into cluster prod, each with its Node (the first a control-plane node when asked).</summary>
    private async Task<List<TestAgent>> NodesAsync(string test, string[] names, bool firstIsControlPlane = false)
    {
        var agents = new List<TestAgent>();
        for (var i = 0; i < names.Length; i++)
        {
            f.Kube.AddNode(names[i], "v1.31.4", controlPlane: firstIsControlPlane && i == 0);
            agents.Add(await f.Fleet.JoinedOnlineAgentAsync(names[i], "--labels", $"nodefleet.io/cluster=prod,test={test}"));
        }
        return agents;
    }

    private async Task<Rollout> StartAsync(string yaml, string test, string maxUnavailable = "2", string maxFailures = "1", bool dryRun = false)
    {
        var request = new StartRolloutRequest
        {
            Plan = AdminClients.Plan(yaml), Selector = $"test={test}", DryRun = dryRun,
            Strategy = new RolloutStrategy { Canary = 0, MaxUnavailable = maxUnavailable, MaxFailures = maxFailures },
        };
        request.IgnorePreflightErrors.AddRange(Ignore);
        return await f.Admin.Rollouts.StartAsync(request);
    }

    /// <summary>
    /// Plays the kubelets of the rollout's nodes until cancelled: a node whose plan is applied (it waits for Ready)
    /// reports <paramref name="target"/>, unless <paramref name="neverReady"/> names it: that one goes NotReady and stays so
    /// until its run is undone, then is Ready again at its old version.
    /// </summary>
    private async Task KubeletsAsync(string rolloutId, string target, CancellationToken ct, string? neverReady = null)
    {
        var done = new HashSet<string>();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var r = await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = rolloutId }, cancellationToken: ct);
                foreach (var n in r.Nodes)
                {
                    if (n.Name == neverReady)
                    {
                        if (n.KubeStep == "wait-ready" && done.Add(n.Name + ":down")) f.Kube.SetNodeReady(n.Name, false);
                        if (n.KubeStep == "recover" && done.Add(n.Name + ":up")) f.Kube.SetNodeReady(n.Name, true);
                    }
                    // Rolled back, its kubelet runs the old version again.
                    else if (n.KubeStep == "wait-ready" && n.State == RolloutNodeState.RollingBack && done.Add(n.Name + ":back")) f.Kube.SetKubeletVersion(n.Name, "v1.31.4");
                    else if (n.KubeStep == "wait-ready" && n.State != RolloutNodeState.RollingBack && done.Add(n.Name)) f.Kube.SetKubeletVersion(n.Name, target);
                }
                await Task.Delay(100, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (Grpc.Core.RpcException)
            {
                // The coordinator is restarting (or the test is over): ask again.
                try { await Task.Delay(200, ct); } catch (OperationCanceledException) { }
            }
        }
    }

    private void Show(Rollout r)
    {
        foreach (var e in f.Kube.Record) output.WriteLine(e.ToString());
        foreach (var n in r.Nodes) output.WriteLine($"{n.Name} wave {n.Wave} {n.State} {n.KubeStep} {n.Message} {n.DrainBlocked} {n.CordonNote}");
        Assert.Empty(f.Kube.Unserved);
    }

    private int At(string action, string target, string detail = "") =>
        f.Kube.Record.ToList().FindIndex(e => e.Action == action && e.Target == target && e.Detail.Contains(detail, StringComparison.Ordinal));

    private int Cordoned(string node) => At(KubeApiActions.PatchNode, $"node/{node}", "\"unschedulable\":true");
    private int Uncordoned(string node) => At(KubeApiActions.PatchNode, $"node/{node}", "\"unschedulable\":null");

    [Fact]
    public async Task Four_nodes_go_control_plane_first_each_cordoned_drained_under_its_budget_upgraded_and_uncordoned()
    {
        string[] names = ["up-cp", "up-w1", "up-w2", "up-w3"];
        var agents = await NodesAsync("four", names, firstIsControlPlane: true);
        var kubeadm = agents.Select(a =>
        {
            var k = new KubeadmStandIn(a.Node);
            k.InstallAt(a.Node);
            return k;
        }).ToList();
        // Three web pods, one per worker, under a budget allowing one disruption; replacements land on other nodes.
        var web = new Dictionary<string, string> { ["app"] = "web4" };
        f.Kube.AddReplicaSet(new TestReplicaSet("four", "web", 3, web) { ReadyAfter = TimeSpan.FromMilliseconds(500) }, "up-w1", "up-w2", "up-w3");
        f.Kube.AddPodDisruptionBudget("four", "web-pdb", web, maxUnavailable: "1");

        var r = await StartAsync(Plan(Minor, kubeadm: "  kubeadm:\n    mode: upgrade\n"), "four", maxUnavailable: "2");
        Assert.Equal(["up-cp", "up-w1", "up-w2", "up-w3"], r.Nodes.OrderBy(n => n.Wave).ThenBy(n => n.Name).Select(n => n.Name));
        Assert.Equal([0, 1, 1, 2], r.Nodes.OrderBy(n => n.Wave).ThenBy(n => n.Name).Select(n => n.Wave));
        Assert.True(r.Nodes.Single(n => n.Name == "up-cp").ControlPlane);
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Minor, cts.Token);
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromMinutes(3));
        await cts.CancelAsync();
        await kubelets;
        Show(done);

        Assert.All(done.Nodes, n => Assert.Equal((RolloutNodeState.Succeeded, "done"), (n.State, n.KubeStep)));
        // kubeadm (the stand-in): upgrade apply on the control-plane node, upgrade node on the others.
        Assert.Equal([$"upgrade apply {Minor} --yes"], kubeadm[0].Calls());
        Assert.All(kubeadm.Skip(1), k => Assert.Equal(["upgrade node"], k.Calls()));
        Assert.All(names, n => Assert.False(f.Kube.IsUnschedulable(n), n));
        // Control plane first: uncordoned before any worker is cordoned.
        Assert.All(names[1..], w => Assert.True(Uncordoned("up-cp") < Cordoned(w), w));
        // Each node: cordoned, then its original pod evicted, then uncordoned.
        for (var i = 1; i < 4; i++)
        {
            var evicted = At(KubeApiActions.Evicted, $"pod/four/web-{i - 1}");
            Assert.True(Cordoned(names[i]) >= 0 && Cordoned(names[i]) < evicted && evicted < Uncordoned(names[i]), names[i]);
        }
        // The budget was never violated (from the server's record, not timing).
        Assert.True(f.Kube.MaxUnavailable("four/web-pdb") <= 1);
        // What an operator sees (the README's walkthrough shows it).
        output.WriteLine(await f.Fleet.CliOkAsync("rollout", "status", r.Id));
        output.WriteLine(await f.Fleet.CliOkAsync("events", "--rollout", r.Id));
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        Assert.Contains(events, e => e.Reason == "NodeCordoned" && e.Node == "up-cp");
        Assert.Contains(events, e => e.Reason == "NodeUncordoned" && e.Node == "up-w3");
    }

    [Fact]
    public async Task A_budget_that_blocks_forever_times_the_drain_out_fails_and_pauses_naming_pod_and_budget_and_uncordons()
    {
        string[] names = ["blk-1", "blk-2"];
        await NodesAsync("blocked", names);
        var db = new Dictionary<string, string> { ["app"] = "db-blk" };
        f.Kube.AddReplicaSet(new TestReplicaSet("blocked", "db", 1, db), "blk-1");
        f.Kube.AddPodDisruptionBudget("blocked", "db-pdb", db, minAvailable: "1");

        var r = await StartAsync(Plan(drain: "  drain:\n    timeout: 3s\n"), "blocked", maxUnavailable: "1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Patch, cts.Token);
        var paused = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Paused, TimeSpan.FromMinutes(2));
        await f.Admin.WaitForNodesAsync(r.Id, n => n.Name == "blk-1" && n.KubeStep == "done", 1, TimeSpan.FromSeconds(30));
        await cts.CancelAsync();
        await kubelets;
        var now = await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Show(now);

        var node = now.Nodes.Single(n => n.Name == "blk-1");
        Assert.Equal(RolloutNodeState.Failed, node.State);
        Assert.Contains("blocked/db-0 blocked by budget db-pdb", node.Message);
        Assert.Equal("error budget spent: 1 failure(s), max 1", paused.StateReason);
        Assert.False(f.Kube.IsUnschedulable("blk-1"));
        Assert.Equal(-1, At(KubeApiActions.Evicted, "pod/blocked/db-0"));
        Assert.NotNull(f.Kube.Pod("blocked", "db-0"));
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        var blocked = events.First(e => e.Reason == "DrainBlocked");
        Assert.Contains("pod blocked/db-0", blocked.Message);
        Assert.Contains("db-pdb", blocked.Message);
        Assert.Contains(events, e => e.Reason == "NodeUncordoned" && e.Node == "blk-1");
        // The other node never started.
        Assert.Equal(-1, Cordoned("blk-2"));
        var status = await f.Fleet.CliOkAsync("rollout", "status", r.Id);
        output.WriteLine(status);
        Assert.Contains("db-pdb", status);
        var describe = await f.Fleet.CliOkAsync("node", "describe", "blk-1");
        Assert.Contains("DrainBlocked", describe);
        Assert.Contains("eviction of pod blocked/db-0 refused by PodDisruptionBudget db-pdb", describe);
        await f.Admin.Rollouts.AbortAsync(new RolloutActionRequest { Id = r.Id });
    }

    [Fact]
    public async Task With_onTimeout_delete_the_pods_left_are_deleted_and_the_rollout_finishes()
    {
        string[] names = ["del-1"];
        await NodesAsync("delete", names);
        var db = new Dictionary<string, string> { ["app"] = "db-del" };
        f.Kube.AddReplicaSet(new TestReplicaSet("delete", "db", 1, db) { Replace = false }, "del-1");
        f.Kube.AddPodDisruptionBudget("delete", "db-pdb", db, minAvailable: "1");

        var r = await StartAsync(Plan(drain: "  drain:\n    timeout: 2s\n    onTimeout: delete\n    gracePeriod: 0s\n"), "delete", maxUnavailable: "1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Patch, cts.Token);
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromMinutes(2));
        await cts.CancelAsync();
        await kubelets;
        Show(done);
        Assert.True(At(KubeApiActions.DeletePod, "pod/delete/db-0") > Cordoned("del-1"));
        Assert.False(f.Kube.IsUnschedulable("del-1"));
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        Assert.Contains(events, e => e.Reason == "PodDeleted" && e.Message.Contains("delete/db-0"));
    }

    [Fact]
    public async Task A_node_never_Ready_fails_its_deadline_is_undone_and_uncordoned_once_Ready_again()
    {
        string[] names = ["nr-1"];
        await NodesAsync("notready", names);
        var r = await StartAsync(Plan(timeouts: "  timeouts:\n    wait-ready: 3s\n"), "notready", maxUnavailable: "1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Patch, cts.Token, neverReady: "nr-1");
        await f.Admin.WaitForNodesAsync(r.Id, n => n.Name == "nr-1" && n.KubeStep == "done", 1, TimeSpan.FromMinutes(2));
        await cts.CancelAsync();
        await kubelets;
        var now = await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Show(now);
        var node = now.Nodes.Single();
        Assert.Equal(RolloutNodeState.Failed, node.State);
        Assert.Contains("did not become Ready at v1.31.5", node.Message);
        Assert.False(f.Kube.IsUnschedulable("nr-1"));
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        var reasons = events.Where(e => e.Node == "nr-1").Select(e => e.Reason).ToList();
        Assert.True(reasons.IndexOf("NodeFailed") < reasons.IndexOf("NodeRolledBack") && reasons.IndexOf("NodeRolledBack") < reasons.IndexOf("NodeUncordoned"),
            string.Join(", ", reasons));
        if (now.State == RolloutState.Paused) await f.Admin.Rollouts.AbortAsync(new RolloutActionRequest { Id = r.Id });
    }

    [Fact]
    public async Task A_node_cordoned_by_someone_else_before_the_rollout_is_left_cordoned_saying_why()
    {
        string[] names = ["pre-1"];
        await NodesAsync("precordoned", names);
        using (var http = KubeHttp())
        {
            var patch = new StringContent("{\"spec\":{\"unschedulable\":true}}", System.Text.Encoding.UTF8, "application/merge-patch+json");
            (await http.PatchAsync($"{f.Kube.Url}/api/v1/nodes/pre-1", patch)).EnsureSuccessStatusCode();
        }
        // A minor upgrade of workers alone is refused at start, a dry run too, with the skew rule and why.
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => StartAsync(Plan(Minor), "precordoned", dryRun: true));
        Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("pre-1: kubelet-not-newer-than-apiserver: its kubelet would be at v1.32.0, newer than the API server's v1.31: upgrade the control plane first",
            refused.Status.Detail);
        var r = await StartAsync(Plan(), "precordoned", maxUnavailable: "1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Patch, cts.Token);
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromMinutes(2));
        await cts.CancelAsync();
        await kubelets;
        Show(done);
        Assert.True(f.Kube.IsUnschedulable("pre-1"));
        Assert.StartsWith("left cordoned:", done.Nodes.Single().CordonNote);
        Assert.Equal(-1, Uncordoned("pre-1"));
        var status = await f.Fleet.CliOkAsync("rollout", "status", r.Id);
        Assert.Contains("Left cordoned:", status);
    }

    [Fact]
    public async Task A_coordinator_killed_mid_drain_resumes_the_drain_and_evicts_no_pod_twice()
    {
        string[] names = ["kill-1"];
        await NodesAsync("kill", names);
        f.Kube.AddNode("kill-spare"); // where the replacements go (the Node of no NodeFleet node)
        // Four pods under a budget allowing one disruption, replacements Ready only after a while: a drain of seconds.
        var app = new Dictionary<string, string> { ["app"] = "kill" };
        f.Kube.AddReplicaSet(new TestReplicaSet("kill", "app", 4, app) { ReadyAfter = TimeSpan.FromSeconds(1.5) }, "kill-1");
        f.Kube.AddPodDisruptionBudget("kill", "app-pdb", app, maxUnavailable: "1");

        var r = await StartAsync(Plan(), "kill", maxUnavailable: "1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Patch, cts.Token);
        await Proc.WaitUntilAsync(() => Task.FromResult(f.Kube.Record.Any(e => e.Action == KubeApiActions.Evicted && e.Target.StartsWith("pod/kill/", StringComparison.Ordinal))),
            TimeSpan.FromMinutes(1), "a first eviction");
        await f.Fleet.KillCoordinatorAsync();
        var evictedBefore = f.Kube.Record.Count(e => e.Action == KubeApiActions.Evicted && e.Target.StartsWith("pod/kill/", StringComparison.Ordinal));
        Assert.True(evictedBefore < 4, "the drain was over before the kill");
        await f.Fleet.StartCoordinatorAsync();
        await Proc.WaitUntilAsync(async () =>
        {
            try { await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id }); return true; }
            catch (Grpc.Core.RpcException) { return false; }
        }, TimeSpan.FromSeconds(30), "the coordinator to answer again");
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromMinutes(2));
        await cts.CancelAsync();
        await kubelets;
        Show(done);

        var evictions = f.Kube.Record.Where(e => e.Action == KubeApiActions.Evicted && System.Text.RegularExpressions.Regex.IsMatch(e.Target, @"^pod/kill/app-\d$"))
            .Select(e => e.Target).ToList();
        Assert.Equal(["pod/kill/app-0", "pod/kill/app-1", "pod/kill/app-2", "pod/kill/app-3"], evictions.Order(StringComparer.Ordinal));
        Assert.True(f.Kube.MaxUnavailable("kill/app-pdb") <= 1);
        Assert.False(f.Kube.IsUnschedulable("kill-1"));
        Assert.Equal("done", done.Nodes.Single().KubeStep);
    }

    [Fact]
    public async Task Abort_mid_drain_stops_the_drain_and_uncordons_the_node()
    {
        string[] names = ["ab-1"];
        await NodesAsync("abort", names);
        var db = new Dictionary<string, string> { ["app"] = "db-ab" };
        f.Kube.AddReplicaSet(new TestReplicaSet("abort", "db", 1, db), "ab-1");
        f.Kube.AddPodDisruptionBudget("abort", "db-pdb", db, minAvailable: "1");

        var r = await StartAsync(Plan(drain: "  drain:\n    timeout: 10m\n"), "abort", maxUnavailable: "1");
        await f.Admin.WaitForNodesAsync(r.Id, n => n.DrainBlocked.Contains("db-pdb"), 1, TimeSpan.FromMinutes(1));
        Assert.True(f.Kube.IsUnschedulable("ab-1"));
        await f.Admin.Rollouts.AbortAsync(new RolloutActionRequest { Id = r.Id });
        await f.Admin.WaitForNodesAsync(r.Id, n => n.KubeStep == "done", 1, TimeSpan.FromSeconds(30));
        Assert.False(f.Kube.IsUnschedulable("ab-1"));
        var now = await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Show(now);
        Assert.Equal(RolloutState.Aborted, now.State);
        Assert.Equal((RolloutNodeState.Skipped, "done"), (now.Nodes.Single().State, now.Nodes.Single().KubeStep));
        Assert.NotNull(f.Kube.Pod("abort", "db-0"));
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        Assert.Contains(events, e => e.Reason == "NodeUncordoned" && e.Node == "ab-1");
    }

    [Fact]
    public async Task A_node_aborted_mid_run_is_uncordoned_once_Ready_by_a_coordinator_restarted_after_a_kill()
    {
        string[] names = ["ar-1"];
        await NodesAsync("abortkill", names);
        var r = await StartAsync(Plan(), "abortkill", maxUnavailable: "1");
        // No kubelet plays: the node waits for Ready at the target version while the rollout is aborted.
        await f.Admin.WaitForNodesAsync(r.Id, n => n.KubeStep == "wait-ready", 1, TimeSpan.FromMinutes(2));
        await f.Admin.Rollouts.AbortAsync(new RolloutActionRequest { Id = r.Id });
        var status = await f.Fleet.CliOkAsync("rollout", "status", r.Id);
        output.WriteLine(status);
        Assert.Matches(@"ar-1\s+running\s+wait-ready", status);

        await f.Fleet.KillCoordinatorAsync();
        await f.Fleet.StartCoordinatorAsync();
        await Proc.WaitUntilAsync(async () =>
        {
            try { await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id }); return true; }
            catch (Grpc.Core.RpcException) { return false; }
        }, TimeSpan.FromSeconds(30), "the coordinator to answer again");
        Assert.True(f.Kube.IsUnschedulable("ar-1"));
        f.Kube.SetKubeletVersion("ar-1", Patch);
        await f.Admin.WaitForNodesAsync(r.Id, n => n.KubeStep == "done", 1, TimeSpan.FromMinutes(1));
        var now = await f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Show(now);
        Assert.False(f.Kube.IsUnschedulable("ar-1"));
        Assert.Equal(RolloutState.Aborted, now.State);
        Assert.Equal(RolloutNodeState.Succeeded, now.Nodes.Single().State);
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        Assert.Contains(events, e => e.Reason == "NodeUncordoned" && e.Node == "ar-1");
    }

    [Fact]
    public async Task Rollback_of_a_cluster_node_cordons_drains_undoes_waits_for_Ready_and_uncordons_it()
    {
        string[] names = ["rb-1"];
        await NodesAsync("rollback", names);
        var r = await StartAsync(Plan(), "rollback", maxUnavailable: "1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, Patch, cts.Token);
        await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromMinutes(2));
        // A pod scheduled on the node since its upgrade: the rollback's drain evicts it before the run is undone.
        f.Kube.AddPod(new TestPod("rollback", "web-0", "rb-1") { Owner = PodOwner.ReplicaSet("web") });
        var upgradeEnd = f.Kube.Record.Count;
        await f.Admin.Rollouts.RollbackAsync(new RolloutActionRequest { Id = r.Id });
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.RolledBack, TimeSpan.FromMinutes(2));
        await cts.CancelAsync();
        await kubelets;
        Show(done);
        Assert.Equal((RolloutNodeState.RolledBack, "done"), (done.Nodes.Single().State, done.Nodes.Single().KubeStep));
        Assert.False(f.Kube.IsUnschedulable("rb-1"));
        var record = f.Kube.Record.ToList();
        int After(string action, string target, string detail = "") =>
            record.FindIndex(upgradeEnd, e => e.Action == action && e.Target == target && e.Detail.Contains(detail, StringComparison.Ordinal));
        var cordon = After(KubeApiActions.PatchNode, "node/rb-1", "\"unschedulable\":true");
        var evict = After(KubeApiActions.Evicted, "pod/rollback/web-0");
        var uncordon = After(KubeApiActions.PatchNode, "node/rb-1", "\"unschedulable\":null");
        Assert.True(cordon >= 0 && cordon < evict && evict < uncordon, $"cordon {cordon}, eviction {evict}, uncordon {uncordon}");
        var events = await f.Admin.RolloutEventsAsync(r.Id);
        // The rollout's own events about the node (the agent's PlanUndoing/PlanUndone are the node's).
        var reasons = events.Where(e => e.Node == "rb-1" && !e.Reason.StartsWith("Plan", StringComparison.Ordinal)).Select(e => e.Reason).ToList();
        var from = reasons.LastIndexOf("NodeRollingBack");
        Assert.Equal(["NodeRollingBack", "NodeCordoned", "PodEvicted", "NodeDrained", "NodeUndone", "NodeReady", "NodeUncordoned", "NodeRolledBack"], reasons.Skip(from));
    }

    [Fact]
    public async Task Plan_apply_to_a_node_in_a_cluster_cordons_drains_applies_waits_and_uncordons_it()
    {
        string[] names = ["pa-1"];
        await NodesAsync("planapply", names);
        f.Kube.AddPod(new TestPod("planapply", "web-0", "pa-1") { Owner = PodOwner.ReplicaSet("web") });
        var file = Path.Combine(f.Fleet.Scratch, "planapply.yaml");
        await File.WriteAllTextAsync(file, Plan().Replace("name: cluster-upgrade", "name: plan-apply"));

        await f.Fleet.CliOkAsync("plan", "apply", file, "--node", "pa-1", "--ignore-preflight-errors=CRI,Mirror-127.0.0.1:5000,Port-10250,Port-10256");
        Rollout? r = null;
        await Proc.WaitUntilAsync(async () =>
        {
            r = (await f.Admin.Rollouts.ListAsync(new ListRolloutsRequest { IncludeFinished = true })).Rollouts.FirstOrDefault(x => x.PlanName == "plan-apply");
            return r is not null;
        }, TimeSpan.FromSeconds(30), "the rollout of pa-1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r!.Id, Patch, cts.Token);
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromMinutes(2));
        await cts.CancelAsync();
        await kubelets;
        Show(done);
        Assert.Equal(["pa-1"], done.Nodes.Select(n => n.Name));
        Assert.True(Cordoned("pa-1") < At(KubeApiActions.Evicted, "pod/planapply/web-0") && At(KubeApiActions.Evicted, "pod/planapply/web-0") < Uncordoned("pa-1"));
        Assert.False(f.Kube.IsUnschedulable("pa-1"));
    }

    [Fact]
    public async Task Plan_apply_wait_on_the_first_control_plane_node_runs_upgrade_apply_and_waits_until_Ready_and_uncordoned()
    {
        var first = (await NodesAsync("cpwait", ["cpw-1"], firstIsControlPlane: true)).Single();
        f.Kube.AddNode("cpw-2", "v1.31.4", controlPlane: true);
        var second = await f.Fleet.JoinedOnlineAgentAsync("cpw-2", "--labels", "nodefleet.io/cluster=prod,test=cpwait2");
        var kubeadm = new KubeadmStandIn(first.Node);
        kubeadm.InstallAt(first.Node);
        new KubeadmStandIn(second.Node).InstallAt(second.Node);
        var file = Path.Combine(f.Fleet.Scratch, "cpwait.yaml");
        await File.WriteAllTextAsync(file, Plan(kubeadm: "  kubeadm:\n    mode: upgrade\n").Replace("name: cluster-upgrade", "name: cp-wait"));
        const string ignore = "--ignore-preflight-errors=CRI,Mirror-127.0.0.1:5000,Port-10250,Port-10256";

        // No control-plane Node of the cluster runs v1.31.5 yet: the first to reach it moves the control plane.
        var diff = await f.Fleet.CliOkAsync("plan", "diff", file, "--node", "cpw-1", ignore);
        Assert.Contains("[kubeadm/upgrade-apply] would run /usr/bin/kubeadm upgrade apply v1.31.5", diff);

        var apply = f.Fleet.CliAsync("plan", "apply", file, "--node", "cpw-1", ignore, "--wait");
        Rollout? r = null;
        await Proc.WaitUntilAsync(async () =>
        {
            r = (await f.Admin.Rollouts.ListAsync(new ListRolloutsRequest { IncludeFinished = true })).Rollouts.FirstOrDefault(x => x.PlanName == "cp-wait");
            return r is not null;
        }, TimeSpan.FromSeconds(30), "the rollout of cpw-1");
        using var cts = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r!.Id, Patch, cts.Token);
        var result = await apply;
        // The wait ended only once the node was back in service.
        Assert.False(f.Kube.IsUnschedulable("cpw-1"));
        await cts.CancelAsync();
        await kubelets;
        output.WriteLine(result.ToString());
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StdOut.Split('\n').ToList();
        int Line(string text) => lines.FindIndex(l => l.Contains(text, StringComparison.Ordinal));
        int[] order = [Line("NodeCordoned:"), Line("NodeDrained:"), Line("kubeadm/upgrade-apply"), Line("NodeApplied:"), Line("NodeReady:"), Line("NodeUncordoned:"),
            Line("applied on node cpw-1 (run ")];
        Assert.True(order.All(i => i >= 0) && order.Zip(order.Skip(1)).All(p => p.First < p.Second), string.Join(", ", order));
        Assert.Contains("Node Ready, uncordoned", lines[^2]);
        Assert.Equal("upgrade apply v1.31.5 --yes", Assert.Single(kubeadm.Calls()));

        // cpw-1, a control-plane node, now runs v1.31.5: the next one runs upgrade node.
        diff = await f.Fleet.CliOkAsync("plan", "diff", file, "--node", "cpw-2", ignore);
        Assert.Contains("[kubeadm/upgrade-node] would run /usr/bin/kubeadm upgrade node", diff);
    }

    private HttpClient KubeHttp()
    {
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        var http = new HttpClient(handler);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", f.Kube.Token);
        return http;
    }
}
