using System.Text;
using Grpc.Core;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>Fleet rollouts with several real agent processes, each with its own --root, on one real coordinator.</summary>
public sealed class RolloutTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;
    private AdminClients _admin = null!;

    public async Task InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        _admin = new AdminClients(_cluster);
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _cluster.DisposeAsync();
    }

    private static readonly string[] Ignore = ["CRI", "Mirror-127.0.0.1:5000", "Port-10250", "Port-10256"];

    private async Task<List<TestAgent>> AgentsAsync(int count, string labels = "role=worker")
    {
        var agents = new List<TestAgent>();
        for (var i = 1; i <= count; i++) agents.Add(await _cluster.JoinedOnlineAgentAsync($"n{i}", "--labels", labels));
        return agents;
    }

    private async Task<Rollout> StartAsync(string yaml, string selector, RolloutStrategy strategy, bool dryRun = false)
    {
        var request = new StartRolloutRequest { Plan = AdminClients.Plan(yaml), Selector = selector, Strategy = strategy, DryRun = dryRun };
        request.IgnorePreflightErrors.AddRange(Ignore);
        return await _admin.Rollouts.StartAsync(request);
    }

    private static string DropIn(TestAgent a) => a.HostPath("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf");

    [Fact]
    public async Task Canary_failure_pauses_the_rollout_and_leaves_the_other_nodes_untouched()
    {
        var agents = await AgentsAsync(3);
        agents[0].Node.FailRestartOf("kubelet");
        var untouched = agents.Skip(1).Select(a => a.Node.Snapshot()).ToList();

        var r = await StartAsync(AgentApplyTests.Plan, "role=worker", new RolloutStrategy { Canary = 1, MaxUnavailable = "1", MaxFailures = "1" });
        var paused = await _admin.WaitForStateAsync(r.Id, RolloutState.Paused);
        Assert.Contains("canary node n1 failed", paused.StateReason);
        Assert.Equal(RolloutNodeState.Failed, paused.Nodes.Single(n => n.Name == "n1").State);
        Assert.All(paused.Nodes.Where(n => n.Name != "n1"), n => Assert.Equal(RolloutNodeState.Prepared, n.State));
        // The canary's own changes were undone; the others ran only the read-only preparation.
        Assert.False(File.Exists(DropIn(agents[0])));
        Assert.Equal(untouched, agents.Skip(1).Select(a => a.Node.Snapshot()).ToList());
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(RolloutState.Paused, (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).State);

        // The nodes only prepared are not reported as upgraded: their run is the prepare stage, PREPARED, and the
        // event PlanPrepared says the rest runs in their wave (it used to be PlanApplied and SUCCEEDED).
        foreach (var name in new[] { "n2", "n3" })
        {
            using var doc = System.Text.Json.JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", name, "-o", "json"));
            var run = Assert.Single(doc.RootElement.GetProperty("runs").EnumerateArray());
            Assert.Equal(("prepare", r.Id, "RUN_STATE_SUCCEEDED"),
                (run.GetProperty("stage").GetString(), run.GetProperty("rolloutId").GetString(), run.GetProperty("state").GetString()));
            var reasons = doc.RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("reason").GetString()).ToList();
            Assert.Contains("PlanPrepared", reasons);
            Assert.DoesNotContain("PlanApplied", reasons);
            var prepared = doc.RootElement.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("reason").GetString() == "PlanPrepared");
            var message = prepared.GetProperty("message").GetString()!;
            Assert.Contains("prepared, not applied: ran preflight", message);
            Assert.EndsWith($"the rest of the plan runs in the node's wave of rollout {r.Id}", message);
            var text = await _cluster.CliOkAsync("node", "describe", name);
            Assert.Contains("node-config generation 1  PREPARED  started", text);
            Assert.DoesNotContain("SUCCEEDED", text);
            Assert.Equal("", (await _cluster.NodeAsync(name))!.Value.GetProperty("phase").GetString());
        }

        // The canary: its apply run failed and was undone, after its prepare run.
        using var canary = System.Text.Json.JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", "n1", "-o", "json"));
        var runs = canary.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal([("apply", "RUN_STATE_UNDONE"), ("prepare", "RUN_STATE_SUCCEEDED")],
            runs.Select(x => (x.GetProperty("stage").GetString(), x.GetProperty("state").GetString())));
        Assert.Contains("Job for kubelet.service failed", runs[0].GetProperty("error").GetString());
        Assert.Contains(runs[0].GetProperty("steps").EnumerateArray(),
            x => x.GetProperty("step").GetString() == "drop-in" && x.GetProperty("state").GetString() == "STEP_STATE_UNDONE");
        var canaryEvents = (await _admin.RolloutEventsAsync(r.Id)).Where(e => e.Node == "n1").Select(e => e.Reason).ToList();
        Assert.Equal(["PlanStarted", "PlanPrepared", "PlanStarted", "StepFailed", "PlanUndone"],
            canaryEvents.Where(e => e.StartsWith("Plan", StringComparison.Ordinal) || e == "StepFailed"));

        // Resume used to flip it to ROLLING, and the controller paused it again at once (the budget shown going 1/1 → 1/2).
        var refused = await _cluster.CliAsync("rollout", "resume", r.Id);
        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith($"error: rollout {r.Id} is held by its failures: its canary failed (1 failure(s) counted, max 1): n1 (wave 0): ", refused.StdErr);
        Assert.Contains($"`nodefleet rollout resume {r.Id} --accept-failures`", refused.StdErr);
        var still = await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Assert.Equal((RolloutState.Paused, 1, 1, 0), (still.State, still.Failures, still.MaxFailures, still.AcceptedFailures));
        // What holds it is the coordinator's decision, sent with the rollout and shown by the CLI as it is.
        Assert.Equal((true, false), (still.HeldByFailures, still.Final));
        Assert.Contains($"Paused by its failures: fix their cause, then `nodefleet rollout resume {r.Id} --accept-failures`",
            await _cluster.CliOkAsync("rollout", "status", r.Id));

        // Accepted, the rollout goes on past the canary; the others succeed, the canary stays failed, counted once.
        await _cluster.CliOkAsync("rollout", "resume", r.Id, "--accept-failures");
        var done = await _admin.WaitForStateAsync(r.Id, RolloutState.Failed, TimeSpan.FromSeconds(90));
        Assert.Equal("1 node(s) failed (1 accepted by the operator)", done.StateReason);
        Assert.Equal((1, 1, 1), (done.Failures, done.MaxFailures, done.AcceptedFailures));
        Assert.Equal((false, true), (done.HeldByFailures, done.Final));
        Assert.Equal([RolloutNodeState.Failed, RolloutNodeState.Succeeded, RolloutNodeState.Succeeded], done.Nodes.Select(n => n.State));
        var events = await _admin.RolloutEventsAsync(r.Id);
        Assert.Single(events, e => e.Reason == "FailuresAccepted");
        Assert.Single(events, e => e.Reason == "RolloutPaused");
    }

    [Fact]
    public async Task A_plan_that_introduces_a_mirror_rolls_out_with_default_flags_where_only_the_mirror_is_reachable()
    {
        // The upstream registry is a name that never resolves (.invalid): only the mirror can serve its images. Each
        // node has a real containerd reading certs.d under its root, with no hosts.toml yet.
        const string upstream = "registry.nodefleet.invalid";
        await using var registry = await TestRegistry.StartNewAsync();
        await TestImages.PushSmallAsync(registry, "pause", "3.10");
        var agents = await AgentsAsync(2);
        var runtimes = new List<BackgroundProc>();
        try
        {
            foreach (var a in agents)
            {
                runtimes.Add(await RuntimeDaemons.StartContainerdAsync(Path.Combine(a.Node.Scratch, "containerd"),
                    a.HostPath("/run/containerd/containerd.sock"), systemdCgroup: true, certsDir: a.HostPath("/etc/containerd/certs.d")));
            }
            var plan = $$"""
                apiVersion: nodefleet.io/v1
                kind: NodePlan
                metadata:
                  name: mirrored
                spec:
                  kubernetesVersion: v1.31.2
                  runtime:
                    kind: containerd
                    cgroupDriver: systemd
                    sandboxImage: {{upstream}}/pause:3.10
                  registry:
                    mirrors:
                      {{upstream}}: ["{{registry.Url}}"]
                  images: [{{upstream}}/pause:3.10]
                """;
            // Default strategy: prepare-ahead pulls on every node before the first wave.
            var r = await StartAsync(plan, "role=worker", new RolloutStrategy());
            var done = await _admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
            Assert.All(done.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
            Assert.NotEmpty(MirrorPulls(registry));
            foreach (var a in agents)
            {
                var hosts = a.HostPath($"/etc/containerd/certs.d/{upstream}/hosts.toml");
                Assert.Contains($"server = \"{registry.Url}\"", File.ReadAllText(hosts));
                using var doc = System.Text.Json.JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", a.Name, "-o", "json"));
                var prepare = doc.RootElement.GetProperty("runs").EnumerateArray().Single(x => x.GetProperty("stage").GetString() == "prepare");
                // The preparation wrote the mirror's hosts.toml before it pulled, so its pull went through the mirror.
                Assert.Equal(["checks", $"hosts-toml-{upstream.Replace('.', '-')}", "pull"],
                    prepare.GetProperty("steps").EnumerateArray().Select(x => x.GetProperty("step").GetString()));
            }

            // The rollback undoes the preparation's writes with the run's: no hosts.toml is left behind.
            await _admin.Rollouts.RollbackAsync(new RolloutActionRequest { Id = r.Id });
            await _admin.WaitForStateAsync(r.Id, RolloutState.RolledBack);
            Assert.All(agents, a => Assert.False(File.Exists(a.HostPath($"/etc/containerd/certs.d/{upstream}/hosts.toml"))));
        }
        finally
        {
            foreach (var c in runtimes) await c.DisposeAsync();
        }
    }

    /// <summary>The manifest requests the mirror answered on behalf of the upstream registry.</summary>
    private static IReadOnlyList<RegistryRequest> MirrorPulls(TestRegistry registry) =>
        registry.Requests("/v2/pause/manifests/3.10?ns=registry.nodefleet.invalid");

    [Fact]
    public async Task Max_unavailable_is_never_exceeded_according_to_the_event_log()
    {
        var agents = await AgentsAsync(5);
        var r = await StartAsync(AgentApplyTests.Plan, "role=worker", new RolloutStrategy { Canary = 1, MaxUnavailable = "2", MaxFailures = "1" });
        Assert.Equal(3, r.WaveCount);
        var done = await _admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
        Assert.All(done.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));
        Assert.All(agents, a => Assert.True(File.Exists(DropIn(a))));

        var events = await _admin.RolloutEventsAsync(r.Id);
        int current = 0, max = 0, started = 0;
        foreach (var e in events)
        {
            if (e.Reason == "NodeStarted") { current++; started++; }
            if (e.Reason is "NodeSucceeded" or "NodeFailed") current--;
            max = Math.Max(max, current);
        }
        Assert.Equal(5, started);
        Assert.Equal(2, max);
        // The canary finished before anything else started.
        var order = events.Where(e => e.Reason is "NodeStarted" or "NodeSucceeded").Select(e => $"{e.Reason}:{e.Node}").ToList();
        Assert.Equal(["NodeStarted:n1", "NodeSucceeded:n1"], order.Take(2));
    }

    [Fact]
    public async Task Pause_stops_new_work_and_resume_finishes_the_rollout()
    {
        await AgentsAsync(3);
        var r = await StartAsync(AgentApplyTests.Plan, "role=worker",
            new RolloutStrategy { Canary = 1, MaxUnavailable = "1", PauseBetweenWaves = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(3)) });
        await Proc.WaitUntilAsync(async () => (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes.Any(n => n.State == RolloutNodeState.Succeeded),
            TimeSpan.FromSeconds(60), "the canary to succeed");
        var paused = await _admin.Rollouts.PauseAsync(new RolloutActionRequest { Id = r.Id });
        Assert.Equal(RolloutState.Paused, paused.State);
        await Task.Delay(TimeSpan.FromSeconds(5));
        var still = await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Assert.Equal(RolloutState.Paused, still.State);
        Assert.Equal(1, still.Nodes.Count(n => n.State is RolloutNodeState.Succeeded or RolloutNodeState.Running));

        var illegal = await Assert.ThrowsAsync<RpcException>(async () => await _admin.Rollouts.RollbackAsync(new RolloutActionRequest { Id = "nope" }));
        Assert.Equal(StatusCode.NotFound, illegal.StatusCode);
        await _admin.Rollouts.ResumeAsync(new RolloutActionRequest { Id = r.Id });
        await _admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(60));
        var twice = await Assert.ThrowsAsync<RpcException>(async () => await _admin.Rollouts.ResumeAsync(new RolloutActionRequest { Id = r.Id }));
        Assert.Equal(StatusCode.FailedPrecondition, twice.StatusCode);
    }

    [Fact]
    public async Task Abort_leaves_unstarted_nodes_untouched_and_rollback_restores_files_byte_for_byte()
    {
        var agents = await AgentsAsync(3);
        foreach (var a in agents) a.Node.Write("/etc/containerd/config.toml", "version = 2\n# kept by the operator\n");
        var before = agents.Select(a => a.Node.Snapshot()).ToList();
        var r = await StartAsync(AgentApplyTests.Plan, "role=worker",
            new RolloutStrategy { Canary = 1, MaxUnavailable = "1", PauseBetweenWaves = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromHours(1)) });
        await Proc.WaitUntilAsync(async () => (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes.Any(n => n.State == RolloutNodeState.Succeeded),
            TimeSpan.FromSeconds(60), "the canary to succeed");
        var aborted = await _admin.Rollouts.AbortAsync(new RolloutActionRequest { Id = r.Id, Reason = "test abort" });
        Assert.Equal(RolloutState.Aborted, aborted.State);
        Assert.Equal([RolloutNodeState.Succeeded, RolloutNodeState.Skipped, RolloutNodeState.Skipped], aborted.Nodes.Select(n => n.State));
        Assert.True(File.Exists(DropIn(agents[0])));
        Assert.Equal(before.Skip(1), agents.Skip(1).Select(a => a.Node.Snapshot()));

        await _admin.Rollouts.RollbackAsync(new RolloutActionRequest { Id = r.Id });
        var rolledBack = await _admin.WaitForStateAsync(r.Id, RolloutState.RolledBack);
        Assert.Equal(RolloutNodeState.RolledBack, rolledBack.Nodes[0].State);
        Assert.Equal(before, agents.Select(a => a.Node.Snapshot()).ToList());
        // The agent reloaded systemd for the removed drop-in and restarted what it had restarted.
        Assert.Equal(["daemon-reload", "restart containerd", "restart kubelet"], agents[0].Node.SystemctlCalls().TakeLast(3));
    }

    [Fact]
    public async Task Selectors_pick_exactly_the_right_nodes_and_a_node_is_in_one_active_rollout()
    {
        await _cluster.JoinedOnlineAgentAsync("a1", "--labels", "role=worker,zone=a");
        await _cluster.JoinedOnlineAgentAsync("b1", "--labels", "role=worker,zone=b");
        await _cluster.JoinedOnlineAgentAsync("c1", "--labels", "role=control,zone=a");
        await _cluster.JoinedOnlineAgentAsync("w9", "--labels", "role=worker");
        var dry = await StartAsync(AgentApplyTests.Plan, "role=worker,zone!=b", new RolloutStrategy { Canary = 1, MaxUnavailable = "50%" }, dryRun: true);
        Assert.Equal(["a1", "w9"], dry.Nodes.Select(n => n.Name));
        Assert.Empty((await _admin.Rollouts.ListAsync(new ListRolloutsRequest { IncludeFinished = true })).Rollouts);

        var r = await StartAsync(AgentApplyTests.Plan, "zone=a", new RolloutStrategy { Canary = 1, PauseBetweenWaves = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromHours(1)) });
        Assert.Equal(["a1", "c1"], r.Nodes.Select(n => n.Name));
        var busy = await Assert.ThrowsAsync<RpcException>(async () => await StartAsync(AgentApplyTests.Plan, "role=worker", new RolloutStrategy { Canary = 1 }));
        Assert.Equal(StatusCode.FailedPrecondition, busy.StatusCode);
        Assert.Contains("a1", busy.Status.Detail);
        // A dry run used to list the waves and exit 0 here: it is refused the same way, and stores nothing.
        var plan = await PlanFileAsync();
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "start", plan, "-l", "role=worker", "--dry-run"),
            $"error: node(s) already in an active rollout: a1 ({r.Id})");
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "start", plan, "-l", "role=worker", "--dry-run", "-o", "json"),
            $"error: node(s) already in an active rollout: a1 ({r.Id})");
        Assert.Single((await _admin.Rollouts.ListAsync(new ListRolloutsRequest { IncludeFinished = true })).Rollouts);
        // A dry run that would start prints no id or generation for a rollout that is never stored.
        using (var dryJson = System.Text.Json.JsonDocument.Parse(await _cluster.CliOkAsync("rollout", "start", plan, "-l", "zone=b", "--dry-run", "-o", "json")))
        {
            Assert.True(dryJson.RootElement.GetProperty("dryRun").GetBoolean());
            Assert.False(dryJson.RootElement.TryGetProperty("id", out _));
            Assert.False(dryJson.RootElement.TryGetProperty("generation", out _));
        }

        // Once aborted, the nodes are free again; a new rollout of the same plan finds their earlier preparation done.
        await _admin.WaitForNodesAsync(r.Id, n => n.State == RolloutNodeState.Succeeded, 1);
        // A plan applied directly to a node of the active rollout would bypass it: refused, unless forced.
        AssertOneErrorLine(await _cluster.CliAsync("plan", "apply", plan, "--node", "a1", "--ignore-preflight-errors=all"),
            $"error: node a1 is in rollout {r.Id} (ROLLING); a plan applied to it directly would bypass the rollout's waves and budgets: " +
            "pause or abort the rollout, or wait for it to end, or pass --force to apply it anyway");
        await _cluster.CliOkAsync("plan", "apply", plan, "--node", "a1", "--ignore-preflight-errors=all", "--force");
        Assert.Single(await _admin.RolloutEventsAsync(r.Id), e => e.Reason == "PlanAppliedOutsideRollout" && e.Node == "a1");
        await _admin.Rollouts.AbortAsync(new RolloutActionRequest { Id = r.Id });
        var again = await StartAsync(AgentApplyTests.Plan, "zone=a", new RolloutStrategy { Canary = 1 });
        await _admin.WaitForStateAsync(again.Id, RolloutState.Succeeded);

        var bad = AdminClients.Plan(AgentApplyTests.Plan);
        bad.Spec.Runtime.CgroupDriver = "magic";
        var invalid = await Assert.ThrowsAsync<RpcException>(async () =>
            await _admin.Rollouts.StartAsync(new StartRolloutRequest { Plan = bad, Selector = "role=worker", Strategy = new RolloutStrategy { Canary = 1 } }));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
    }

    private static void AssertOneErrorLine(ProcResult r, string expected)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.DoesNotContain("Unhandled exception", r.All);
        Assert.DoesNotContain("   at ", r.All);
        Assert.Equal("", r.StdOut);
        Assert.Equal(expected + "\n", r.StdErr);
    }

    private async Task<string> PlanFileAsync()
    {
        var path = Path.Combine(_cluster.Scratch, "plan.yaml");
        await File.WriteAllTextAsync(path, AgentApplyTests.Plan);
        return path;
    }

    // Resume used to answer OK and move a PREPARING rollout to ROLLING, skipping the rest of the preparation.
    [Fact]
    public async Task Resume_of_a_rollout_that_is_not_paused_is_refused_and_changes_nothing()
    {
        // A joined node whose agent is not running: the rollout prepares it as soon as it is online, so it stays PREPARING.
        var (token, hash) = await _cluster.CreateTokenAsync();
        var agent = _cluster.NewAgent("idle");
        var join = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "idle", "--labels", "role=worker", _cluster.Address]);
        Assert.True(join.ExitCode == 0, join.ToString());
        var plan = await PlanFileAsync();
        var started = await _cluster.CliOkAsync("rollout", "start", plan, "-l", "role=worker", "-o", "json");
        var id = System.Text.Json.JsonDocument.Parse(started).RootElement.GetProperty("id").GetString()!;
        await _admin.WaitForStateAsync(id, RolloutState.Preparing);

        AssertOneErrorLine(await _cluster.CliAsync("rollout", "resume", id), $"error: rollout {id} is PREPARING, not paused");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(RolloutState.Preparing, (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = id })).State);
        Assert.DoesNotContain(await _admin.RolloutEventsAsync(id), e => e.Reason is "RolloutRolling" or "RolloutPreparing" && e.Message.Contains("resumed"));

        // Paused, it resumes into what the pause interrupted; aborted, the refusal names the state as the CLI shows it.
        await _cluster.CliOkAsync("rollout", "pause", id);
        await _cluster.CliOkAsync("rollout", "resume", id);
        Assert.Equal(RolloutState.Preparing, (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = id })).State);
        await _cluster.CliOkAsync("rollout", "abort", id);
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "resume", id), $"error: rollout {id} is ABORTED, not paused");
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "pause", id), $"error: rollout {id} is ABORTED; it cannot become PAUSED");
    }

    // A selector that matched nothing used to start (exit 0) and store a rollout "SUCCEEDED: no nodes selected".
    [Fact]
    public async Task A_selector_that_matches_no_node_is_refused_and_nothing_is_stored()
    {
        await AgentsAsync(1);
        var plan = await PlanFileAsync();
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "start", plan, "-l", "nomatch=x"), "error: selector nomatch=x matches no node");
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "start", plan, "-l", "nomatch=x", "--dry-run"), "error: selector nomatch=x matches no node");
        // A budget of 0 would never let a node start: the CLI and the coordinator refuse it with the same words.
        const string zero = "must be more than 0: with 0 the rollout could never go on";
        AssertOneErrorLine(await _cluster.CliAsync("rollout", "start", plan, "-l", "role=worker", "--max-unavailable", "0%"),
            $"error: --max-unavailable '0%' {zero} (use 1 or more, or a percentage from 1% to 100%)");
        var wire = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => _admin.Rollouts.StartAsync(new StartRolloutRequest
        {
            Plan = AdminClients.Plan(AgentApplyTests.Plan), Selector = "role=worker", Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "0" },
        }).ResponseAsync);
        Assert.Equal((Grpc.Core.StatusCode.InvalidArgument, $"max-unavailable '0' {zero} (use 1 or more, or a percentage from 1% to 100%)"),
            (wire.StatusCode, wire.Status.Detail));
        Assert.Empty((await _admin.Rollouts.ListAsync(new ListRolloutsRequest { IncludeFinished = true })).Rollouts);
        var history = await _cluster.CliAsync("rollout", "history");
        Assert.Equal("No rollouts found.\n", history.StdErr);
        // The control: the node's own selector does start.
        await _cluster.CliOkAsync("rollout", "start", plan, "-l", "role=worker", "--dry-run");
    }

    [Fact]
    public async Task A_node_that_goes_offline_mid_phase_is_unavailable_then_failed_after_its_deadline()
    {
        await using var http = await HttpFiles.StartAsync();
        var agents = await AgentsAsync(2);
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"), TimeSpan.FromSeconds(3));
        var plan = AgentApplyTests.PlanWithArtifact("tool", url, sha);
        var r = await StartAsync(plan, "role=worker", new RolloutStrategy
        {
            Canary = 0, MaxUnavailable = "2", MaxFailures = "1", NoPrepareAhead = true,
            PhaseDeadlines = { ["stage-artifacts"] = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(6)) },
        });
        await agents[1].Run!.WaitForOutputAsync("[stage-artifacts/download-tool] running", TimeSpan.FromSeconds(30));
        agents[1].Run!.Pause();
        var paused = await _admin.WaitForStateAsync(r.Id, RolloutState.Paused, TimeSpan.FromSeconds(60));
        var n2 = paused.Nodes.Single(n => n.Name == "n2");
        Assert.Equal(RolloutNodeState.Failed, n2.State);
        // Offline from a few seconds into the phase (three missed heartbeats): it fails 6 s after that.
        Assert.StartsWith("offline for ", n2.Message);
        Assert.Contains("deadline of 6s", n2.Message);
        Assert.Contains("error budget spent", paused.StateReason);
        agents[1].Run!.Resume();
    }

    // The deadline used to apply only to offline nodes: an online node stuck in a phase was waited for forever.
    [Fact]
    public async Task An_online_node_past_its_phase_deadline_fails_and_its_late_success_leaves_it_failed()
    {
        await using var http = await HttpFiles.StartAsync();
        await AgentsAsync(1);
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"), TimeSpan.FromSeconds(8));
        var r = await StartAsync(AgentApplyTests.PlanWithArtifact("tool", url, sha), "role=worker", new RolloutStrategy
        {
            Canary = 0, MaxUnavailable = "1", MaxFailures = "1", NoPrepareAhead = true,
            PhaseDeadlines = { ["stage-artifacts"] = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(3)) },
        });
        var paused = await _admin.WaitForStateAsync(r.Id, RolloutState.Paused, TimeSpan.FromSeconds(60));
        var n1 = paused.Nodes.Single();
        Assert.Equal(RolloutNodeState.Failed, n1.State);
        Assert.StartsWith("phase stage-artifacts exceeded its deadline of 3s (running ", n1.Message);
        Assert.Equal("error budget spent: 1 failure(s), max 1", paused.StateReason);

        // The download ends and the run goes on to succeed on the node; the rollout still counts it failed, once.
        await Proc.WaitUntilAsync(async () => (await _admin.RolloutEventsAsync(r.Id)).Any(e => e.Reason == "NodeLateResult"),
            TimeSpan.FromSeconds(60), "the late result of n1");
        var after = await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id });
        Assert.Equal(RolloutNodeState.Failed, after.Nodes.Single().State);
        Assert.Contains("; its run later succeeded: the plan is applied on the node (run ", after.Nodes.Single().Message);
        Assert.Equal(1, after.Failures);
        var late = Assert.Single(await _admin.RolloutEventsAsync(r.Id), e => e.Reason == "NodeLateResult");
        Assert.Equal("Warning", late.Type);
    }

    [Fact]
    public async Task Coordinator_killed_mid_rollout_resumes_and_no_node_runs_a_step_twice()
    {
        await using var http = await HttpFiles.StartAsync();
        var agents = await AgentsAsync(3);
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"), TimeSpan.FromSeconds(1));
        var plan = AgentApplyTests.PlanWithArtifact("tool", url, sha);
        var r = await StartAsync(plan, "role=worker", new RolloutStrategy { Canary = 1, MaxUnavailable = "1", MaxFailures = "1" });
        await Proc.WaitUntilAsync(async () => (await _admin.Rollouts.GetAsync(new GetRolloutRequest { Id = r.Id })).Nodes.Any(n => n.State == RolloutNodeState.Running && n.Wave > 0),
            TimeSpan.FromSeconds(60), "a node of wave 1 to be running");
        await _cluster.KillCoordinatorAsync();
        await _cluster.StartCoordinatorAsync();
        using var admin = new AdminClients(_cluster);
        var done = await admin.WaitForStateAsync(r.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
        Assert.All(done.Nodes, n => Assert.Equal(RolloutNodeState.Succeeded, n.State));

        // Each node: one prepare run and one apply run, every step of them reported once.
        foreach (var a in agents)
        {
            var json = await _cluster.CliOkAsync("node", "describe", a.Name, "-o", "json");
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(2, runs.Count);
            foreach (var run in runs)
            {
                var steps = run.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("phase").GetString() + "/" + s.GetProperty("step").GetString()).ToList();
                Assert.Equal(steps.Count, steps.Distinct().Count());
            }
        }
        // Downloads happened once per node, in the prepare stage.
        Assert.Equal(3, http.Requests);
    }
}
