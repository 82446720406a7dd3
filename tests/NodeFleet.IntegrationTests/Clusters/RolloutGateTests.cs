using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;
using NodeFleet.Protocol.V1;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests.Clusters;

/// <summary>
/// Rollout gates through the real coordinator, agents and CLI: a real Prometheus (Debian's) scraping a test exporter
/// whose alert fires on demand; the Kubernetes API test server (the stand-in for kube-apiserver) as cluster "prod" for
/// the soak's readiness and the blocking pods; a coordinator killed with SIGKILL during a soak; the per-zone budget
/// read back from the event log. Each test joins nodes of its own names.
/// </summary>
public sealed class RolloutGateTests(ClusterUpgradeFixture f, ITestOutputHelper output) : IClassFixture<ClusterUpgradeFixture>
{
    private static readonly string[] Ignore = ["CRI", "Mirror-127.0.0.1:5000", "Port-10250", "Port-10256"];

    private const string ClusterPlan = """
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: gated-upgrade
        spec:
          kubernetesVersion: v1.31.5
          runtime:
            kind: containerd
            cgroupDriver: systemd
          registry:
            mirrors:
              registry.k8s.io: ["http://127.0.0.1:5000"]
          kubelet:
            extraArgs: {"max-pods": "50"}
          skipPhases: [prepull-images, verify]
        """;

    /// <summary>Host-only nodes (no cluster), joined with <paramref name="labels"/> (test=NAME is added).</summary>
    private async Task HostNodesAsync(string test, IEnumerable<string> names, Func<string, string>? labels = null)
    {
        foreach (var name in names)
            await f.Fleet.JoinedOnlineAgentAsync(name, "--labels", $"test={test}" + (labels is null ? "" : "," + labels(name)));
    }

    /// <summary>Nodes of cluster prod: a Node each in the API test server, and an agent labelled into the cluster.</summary>
    private async Task ClusterNodesAsync(string test, params string[] names)
    {
        foreach (var name in names)
        {
            f.Kube.AddNode(name, "v1.31.4");
            await f.Fleet.JoinedOnlineAgentAsync(name, "--labels", $"nodefleet.io/cluster=prod,test={test}");
        }
    }

    private async Task<Rollout> StartAsync(string test, string yaml, Action<RolloutStrategy> gates, string maxUnavailable = "1")
    {
        var strategy = new RolloutStrategy { Canary = 0, MaxUnavailable = maxUnavailable, MaxFailures = "1", NoPrepareAhead = true };
        gates(strategy);
        var request = new StartRolloutRequest { Plan = AdminClients.Plan(yaml), Selector = $"test={test}", Strategy = strategy };
        request.IgnorePreflightErrors.AddRange(Ignore);
        return await f.Admin.Rollouts.StartAsync(request);
    }

    private Task<Rollout> GetAsync(string id) => f.Admin.Rollouts.GetAsync(new GetRolloutRequest { Id = id }).ResponseAsync;

    private async Task<Rollout> WaitAsync(string id, Func<Rollout, bool> condition, string what, int seconds = 60)
    {
        Rollout? last = null;
        try
        {
            await Proc.WaitUntilAsync(async () => condition(last = await GetAsync(id)), TimeSpan.FromSeconds(seconds), what);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; it is {last?.State}: {last?.StateReason}; gates: {string.Join("; ", last?.Gates.Select(g => $"{g.Name} {g.State} {g.Message}") ?? [])}");
        }
        return last!;
    }

    private static RolloutGate? Gate(Rollout r, string name) => r.Gates.FirstOrDefault(g => g.Name == name);

    /// <summary>Plays the kubelets of cluster nodes: a node waiting for Ready reports the target version.</summary>
    private async Task KubeletsAsync(string rolloutId, CancellationToken ct)
    {
        var done = new HashSet<string>();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                foreach (var n in (await GetAsync(rolloutId)).Nodes)
                    if (n.KubeStep == "wait-ready" && done.Add(n.Name)) f.Kube.SetKubeletVersion(n.Name, "v1.31.5");
                await Task.Delay(100, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (Grpc.Core.RpcException)
            {
                try { await Task.Delay(200, ct); } catch (OperationCanceledException) { }
            }
        }
    }

    private async Task<List<Event>> EventsAsync(string id)
    {
        var events = (await f.Admin.RolloutEventsAsync(id)).ToList();
        foreach (var e in events) output.WriteLine($"{e.Time.ToDateTime():HH:mm:ss.fff} {e.Reason} {e.Node} {e.Message}");
        return events;
    }

    [Fact]
    public async Task A_firing_alert_pauses_the_rollout_after_its_wave_and_it_goes_on_once_the_alert_resolves()
    {
        await using var prometheus = await TestPrometheus.StartAsync(alarm: true);
        await prometheus.WaitForAlertAsync(firing: true);
        await HostNodesAsync("gate-prom", ["gp-1", "gp-2"]);
        var r = await StartAsync("gate-prom", AgentApplyTests.Plan, s =>
        {
            s.GatePrometheus = prometheus.Url;
            s.GateQuery = TestPrometheus.CriticalQuery;
        });

        var paused = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Paused);
        Assert.StartsWith("prometheus gate: ", paused.StateReason);
        Assert.Contains("alertname=\"TestAlarm\"", paused.StateReason);
        Assert.Contains("severity=\"critical\"", paused.StateReason);
        Assert.Equal(RolloutNodeState.Succeeded, paused.Nodes.Single(n => n.Name == "gp-1").State);
        Assert.Equal(RolloutNodeState.Pending, paused.Nodes.Single(n => n.Name == "gp-2").State);
        var status = await f.Fleet.CliOkAsync("rollout", "status", r.Id);
        output.WriteLine(status);
        Assert.Contains("Gates (after wave 0):", status);
        Assert.Contains("prometheus: PAUSED", status);

        prometheus.SetAlarm(false);
        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded);
        Assert.All(done.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
        var reasons = (await EventsAsync(r.Id)).Select(e => e.Reason).ToList();
        Assert.True(reasons.IndexOf("GateFailed") < reasons.IndexOf("GateCleared"), string.Join(",", reasons));
        Assert.True(reasons.IndexOf("GateCleared") < reasons.IndexOf("GatesPassed"), string.Join(",", reasons));
        Assert.Equal("passed", Gate(done, "prometheus")!.State);
    }

    [Fact]
    public async Task An_unreachable_Prometheus_holds_the_rollout_and_says_so()
    {
        await HostNodesAsync("gate-down", ["gd-1", "gd-2"]);
        var nobody = $"http://127.0.0.1:{Proc.FreePort()}";
        var r = await StartAsync("gate-down", AgentApplyTests.Plan, s =>
        {
            s.GatePrometheus = nobody;
            s.GateQuery = TestPrometheus.CriticalQuery;
        });
        var holding = await WaitAsync(r.Id, x => Gate(x, "prometheus")?.State == "holding", "the Prometheus gate to hold");
        Assert.Contains($"Prometheus at {nobody} cannot be asked", Gate(holding, "prometheus")!.Message);
        // Held, not passed: several more answers later, the next wave has still not started.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var still = await GetAsync(r.Id);
        Assert.Equal((RolloutState.Rolling, 0), (still.State, still.CurrentWave));
        Assert.Equal(RolloutNodeState.Pending, still.Nodes.Single(n => n.Name == "gd-2").State);
        var status = await f.Fleet.CliOkAsync("rollout", "status", r.Id);
        output.WriteLine(status);
        Assert.Contains("prometheus: HOLDING", status);
        Assert.Single(await EventsAsync(r.Id), e => e.Reason == "GateHolding");
        await f.Fleet.CliOkAsync("rollout", "abort", r.Id);
    }

    [Fact]
    public async Task A_node_turning_NotReady_during_the_soak_pauses_the_rollout_naming_it()
    {
        await ClusterNodesAsync("gate-soak", "gs-1", "gs-2");
        var r = await StartAsync("gate-soak", ClusterPlan, s => s.Soak = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMinutes(10)));
        using var stop = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, stop.Token);
        try
        {
            var soaking = await WaitAsync(r.Id, x => Gate(x, "soak")?.State == "waiting" && x.Nodes.Single(n => n.Name == "gs-1").KubeStep == "done",
                "wave 0 to soak");
            Assert.Equal(RolloutNodeState.Pending, soaking.Nodes.Single(n => n.Name == "gs-2").State);
            f.Kube.SetNodeReady("gs-1", false);
            var paused = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Paused);
            Assert.StartsWith("soak gate: node gs-1 turned unhealthy (NotReady in cluster prod)", paused.StateReason);
            Assert.Equal("paused", Gate(paused, "soak")!.State);
            Assert.Equal(RolloutNodeState.Pending, paused.Nodes.Single(n => n.Name == "gs-2").State);
            Assert.Contains(await EventsAsync(r.Id), e => e.Reason == "GateFailed" && e.Node == "gs-1");
            await f.Fleet.CliOkAsync("rollout", "abort", r.Id);
        }
        finally
        {
            await stop.CancelAsync();
            await kubelets;
            f.Kube.SetNodeReady("gs-1", true);
        }
    }

    [Fact]
    public async Task A_node_running_a_blocking_pod_is_held_back_and_named_until_the_operator_skips_it()
    {
        await ClusterNodesAsync("gate-pods", "gb-1", "gb-2");
        f.Kube.AddPod(new TestPod("db", "postgres-0", "gb-1") { Labels = new Dictionary<string, string> { ["app"] = "postgres" } });
        var r = await StartAsync("gate-pods", ClusterPlan, s => s.BlockingPods = "app=postgres", maxUnavailable: "2");
        using var stop = new CancellationTokenSource();
        var kubelets = KubeletsAsync(r.Id, stop.Token);
        try
        {
            var held = await WaitAsync(r.Id, x => x.Nodes.Single(n => n.Name == "gb-2").State == RolloutNodeState.Succeeded
                && x.Nodes.Single(n => n.Name == "gb-1").Held.Length > 0, "gb-2 upgraded and gb-1 held");
            var gb1 = held.Nodes.Single(n => n.Name == "gb-1");
            Assert.Equal((RolloutNodeState.Pending, "pod db/postgres-0 matches blocking pods app=postgres"), (gb1.State, gb1.Held));
            Assert.Equal(RolloutState.Rolling, held.State);
            Assert.False(f.Kube.IsUnschedulable("gb-1"));
            var status = await f.Fleet.CliOkAsync("rollout", "status", r.Id);
            output.WriteLine(status);
            Assert.Contains("Held back:", status);
            Assert.Contains("gb-1 (wave 0): pod db/postgres-0 matches blocking pods app=postgres", status);

            Assert.Contains("node gb-1 skipped", await f.Fleet.CliOkAsync("rollout", "skip", r.Id, "gb-1", "--reason", "database primary"));
            var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded);
            Assert.Equal(RolloutNodeState.Skipped, done.Nodes.Single(n => n.Name == "gb-1").State);
            Assert.NotNull(f.Kube.Pod("db", "postgres-0"));
            var events = await EventsAsync(r.Id);
            Assert.Contains(events, e => e.Reason == "NodeHeld" && e.Node == "gb-1");
            Assert.Contains(events, e => e.Reason == "NodeSkipped" && e.Node == "gb-1" && e.Message.Contains("database primary"));
        }
        finally
        {
            await stop.CancelAsync();
            await kubelets;
        }
    }

    [Fact]
    public async Task A_coordinator_killed_during_a_soak_resumes_it_where_it_was()
    {
        await HostNodesAsync("gate-kill", ["gk-1", "gk-2"]);
        var r = await StartAsync("gate-kill", AgentApplyTests.Plan, s => s.Soak = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(20)));
        var soaking = await WaitAsync(r.Id, x => Gate(x, "soak")?.State == "waiting", "wave 0 to soak");
        var since = Gate(soaking, "soak")!.Since;

        await f.Fleet.KillCoordinatorAsync();
        await f.Fleet.StartCoordinatorAsync();
        var after = await WaitAsync(r.Id, x => true, "the restarted coordinator to answer");
        Assert.Equal(since, Gate(after, "soak")!.Since);

        var done = await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
        Assert.Equal("passed", Gate(done, "soak")!.State);
        var events = await EventsAsync(r.Id);
        // One soak of wave 0, begun before the kill and ended after it: never started over.
        Assert.Single(events, e => e.Reason == "GatesChecking");
        var passed = events.Single(e => e.Reason == "GatesPassed");
        Assert.True(passed.Time.ToDateTime() - since.ToDateTime() >= TimeSpan.FromSeconds(20), $"passed at {passed.Time}, soak from {since}");
    }

    [Fact]
    public async Task The_per_zone_budget_keeps_one_node_per_zone_in_flight_over_12_nodes_in_3_zones()
    {
        var names = Enumerable.Range(1, 12).Select(i => $"gz-{i:00}").ToList();
        string Zone(string name) => ((int.Parse(name[3..]) - 1) % 3) switch { 0 => "a", 1 => "b", _ => "c" };
        await HostNodesAsync("gate-zones", names, n => $"topology.kubernetes.io/zone={Zone(n)}");
        var r = await StartAsync("gate-zones", AgentApplyTests.Plan, s => s.MaxUnavailablePer["topology.kubernetes.io/zone"] = 1, maxUnavailable: "6");
        Assert.All(r.Nodes, n => Assert.Equal(Zone(n.Name), n.Topology["topology.kubernetes.io/zone"]));
        await f.Admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(120));

        var inFlight = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0, ["c"] = 0 };
        var most = 0;
        foreach (var e in await EventsAsync(r.Id))
        {
            if (e.Reason == "NodeStarted") inFlight[Zone(e.Node)]++;
            else if (e.Reason is "NodeSucceeded" or "NodeFailed") inFlight[Zone(e.Node)]--;
            else continue;
            Assert.True(inFlight.Values.All(v => v <= 1), $"after {e.Reason} {e.Node}: {string.Join(", ", inFlight)}");
            most = Math.Max(most, inFlight.Values.Sum());
        }
        // The budget is per zone: the zones went on side by side.
        Assert.True(most >= 2, $"at most {most} node(s) in flight at once");
    }
}
