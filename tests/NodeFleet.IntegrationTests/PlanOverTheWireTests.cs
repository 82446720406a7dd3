using System.Text;
using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>`nodefleet plan apply|diff --node`: the coordinator stores the plan, the agent runs it, reports come back.</summary>
public sealed class PlanOverTheWireTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private string WritePlan(string yaml)
    {
        var path = Path.Combine(_cluster.Scratch, $"plan-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private async Task<JsonElement> DescribeAsync(string node)
    {
        using var doc = JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", node, "-o", "json"));
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Plan_applied_through_the_coordinator_shows_its_phase_history()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("w1");
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var plan = WritePlan(AgentApplyTests.Plan);

        var diff = await _cluster.CliOkAsync("plan", "diff", plan, "--node", "w1", AgentApplyTests.IgnoreAbsentRuntime);
        Assert.Contains("[containerd-config/config-toml] would write /etc/containerd/config.toml", diff);
        Assert.Contains("+  SystemdCgroup = true", diff);
        Assert.Equal("version = 2\n", agent.Node.Read("/etc/containerd/config.toml"));

        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "w1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("SystemdCgroup = true", agent.Node.Read("/etc/containerd/config.toml"));

        var d = await DescribeAsync("w1");
        var run = d.GetProperty("runs")[0];
        Assert.Equal("node-config", run.GetProperty("planName").GetString());
        Assert.Equal("RUN_STATE_SUCCEEDED", run.GetProperty("state").GetString());
        var steps = run.GetProperty("steps").EnumerateArray().Select(s => $"{s.GetProperty("phase").GetString()}/{s.GetProperty("step").GetString()}").ToList();
        Assert.Equal(steps.Distinct().Count(), steps.Count);
        Assert.Contains("kubelet-config/drop-in", steps);
        Assert.All(run.GetProperty("steps").EnumerateArray(), s => Assert.Equal("STEP_STATE_SUCCEEDED", s.GetProperty("state").GetString()));

        var text = await _cluster.CliOkAsync("node", "describe", "w1");
        Assert.Contains("node-config", text);
        Assert.Contains("restart-kubelet", text);
    }

    // The agent undoes a failed run (restores its files, restarts containerd) but reports no step of the undo: the run
    // used to stay FAILED with every earlier step "Succeeded applied (changed)", as if the changes were still there.
    [Fact]
    public async Task A_failed_step_is_shown_with_its_error_and_the_node_phase_and_the_undo_with_what_it_reverted()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("w2");
        agent.Node.FailRestartOf("kubelet");
        var apply = await _cluster.CliAsync("plan", "apply", WritePlan(AgentApplyTests.Plan), "--node", "w2", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.Equal(1, apply.ExitCode);
        Assert.Contains("Job for kubelet.service failed", apply.All);
        Assert.Contains("failed and was undone on node w2", apply.StdErr);
        Assert.Contains("[kubelet-config/drop-in] undone", apply.StdOut);

        var node = (await _cluster.NodeAsync("w2"))!.Value;
        Assert.Equal("restart-services (failed)", node.GetProperty("phase").GetString());
        var text = await _cluster.CliOkAsync("node", "describe", "w2");
        Assert.Contains("restart-services/restart-kubelet", text);
        Assert.Contains("Job for kubelet.service failed", text);
        Assert.Contains("restart-services (failed)", await _cluster.CliOkAsync("nodes"));
        Assert.Contains("node-config generation 1  UNDONE  started", text);
        Assert.Matches(@"kubelet-config\s+drop-in\s+Undone\s", text);

        var d = await DescribeAsync("w2");
        var run = d.GetProperty("runs")[0];
        Assert.Equal("RUN_STATE_UNDONE", run.GetProperty("state").GetString());
        Assert.Equal("apply", run.GetProperty("stage").GetString());
        Assert.Contains("error execution phase restart-services/restart-kubelet", run.GetProperty("error").GetString());
        var steps = run.GetProperty("steps").EnumerateArray()
            .ToDictionary(s => $"{s.GetProperty("phase").GetString()}/{s.GetProperty("step").GetString()}", s => s.GetProperty("state").GetString());
        Assert.Equal("STEP_STATE_SUCCEEDED", steps["preflight/checks"]);
        Assert.Equal("STEP_STATE_UNDONE", steps["containerd-config/config-toml"]);
        Assert.Equal("STEP_STATE_UNDONE", steps["kubelet-config/drop-in"]);
        Assert.Equal("STEP_STATE_UNDONE", steps["restart-services/restart-containerd"]);
        Assert.Equal("STEP_STATE_FAILED", steps["restart-services/restart-kubelet"]);
        Assert.Null(agent.Node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf"));

        var events = d.GetProperty("events").EnumerateArray().ToList();
        Assert.DoesNotContain(events, e => e.GetProperty("reason").GetString() is "PlanFailed" or "PlanApplied");
        var undone = Assert.Single(events, e => e.GetProperty("reason").GetString() == "PlanUndone");
        Assert.Equal("Warning", undone.GetProperty("type").GetString());
        var message = undone.GetProperty("message").GetString()!;
        Assert.Contains("failed and was undone (reverted containerd-config/config-toml", message);
        Assert.Contains("kubelet-config/drop-in", message);
        Assert.EndsWith("Job for kubelet.service failed.", message);

        var yaml = await _cluster.CliOkAsync("node", "describe", "w2", "-o", "yaml");
        Assert.Contains("stage: apply", yaml);
        Assert.Contains("STEP_STATE_UNDONE", yaml);
    }

    [Fact]
    public async Task Reports_made_while_the_coordinator_is_down_arrive_exactly_once()
    {
        await using var http = await HttpFiles.StartAsync();
        var agent = await _cluster.JoinedOnlineAgentAsync("w3");
        // A slow download keeps the run going while the coordinator is away.
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"), TimeSpan.FromSeconds(4));
        var plan = WritePlan(AgentApplyTests.PlanWithArtifact("tool", url, sha));
        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "w3", AgentApplyTests.IgnoreAbsentRuntime);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        await agent.Run!.WaitForOutputAsync("[stage-artifacts/download-tool] running", TimeSpan.FromSeconds(30));
        await _cluster.KillCoordinatorAsync();
        await agent.Run.WaitForOutputAsync("Plan node-config applied", TimeSpan.FromSeconds(60));
        await _cluster.StartCoordinatorAsync();

        await Proc.WaitUntilAsync(async () =>
        {
            var runs = (await DescribeAsync("w3")).GetProperty("runs");
            return runs.GetArrayLength() > 0 && runs[0].GetProperty("state").GetString() == "RUN_STATE_SUCCEEDED";
        }, TimeSpan.FromSeconds(60), "the run's reports to arrive after the restart");

        var d = await DescribeAsync("w3");
        var reasons = d.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("reason").GetString()).ToList();
        Assert.Equal(1, reasons.Count(r => r == "PlanStarted"));
        Assert.Equal(1, reasons.Count(r => r == "PlanApplied"));
        var steps = d.GetProperty("runs")[0].GetProperty("steps").EnumerateArray().ToList();
        Assert.Contains(steps, s => s.GetProperty("step").GetString() == "install-tool" && s.GetProperty("state").GetString() == "STEP_STATE_SUCCEEDED");
        Assert.Equal("#!/bin/sh\n", agent.Node.Read("/opt/cni/bin/tool"));
    }

    // The README's way out of a damaged journal is to move it aside. The new journal numbers its reports from 1 again;
    // without its epoch the coordinator took them for duplicates of the old journal's and dropped them unseen.
    [Fact]
    public async Task A_journal_moved_aside_starts_a_new_epoch_and_its_reports_are_recorded()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("fresh-journal");
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var plan = WritePlan(AgentApplyTests.Plan);
        var first = await _cluster.CliAsync("plan", "apply", plan, "--node", "fresh-journal", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(first.ExitCode == 0, first.ToString());

        await agent.Run!.KillHardAsync();
        // Both files: what the journal committed since its last checkpoint is in its log file.
        foreach (var file in new[] { "journal.db", "journal-log.db" })
        {
            var path = agent.HostPath($"/var/lib/nodefleet-agent/{file}");
            if (File.Exists(path)) File.Move(path, path + ".damaged");
        }
        agent.StartRun();
        await agent.Run!.WaitForOutputAsync("Connected to the coordinator", TimeSpan.FromSeconds(30));

        // A new generation of the plan, so that the node runs it (and reports every step under its new journal).
        var changed = WritePlan(AgentApplyTests.Plan.Replace("max-pods: \"50\"", "max-pods: \"60\""));
        var again = await _cluster.CliAsync("plan", "apply", changed, "--node", "fresh-journal", AgentApplyTests.IgnoreAbsentRuntime,
            "--wait", "--timeout", "60s");
        Assert.True(again.ExitCode == 0, again.ToString());
        var runs = (await DescribeAsync("fresh-journal")).GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        Assert.All(runs.EnumerateArray(), r => Assert.Equal("RUN_STATE_SUCCEEDED", r.GetProperty("state").GetString()));
        var log = _cluster.Coordinator!.Output;
        Assert.True(log.Contains("journal is new", StringComparison.Ordinal), log);
    }

    [Fact]
    public async Task An_invalid_plan_is_refused_before_anything_is_sent()
    {
        await _cluster.JoinedOnlineAgentAsync("w4");
        var bad = WritePlan(AgentApplyTests.Plan.Replace("kind: containerd", "kind: rkt"));
        var r = await _cluster.CliAsync("plan", "apply", bad, "--node", "w4");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{bad}:8:", r.StdErr);
        var d = await DescribeAsync("w4");
        Assert.Equal(0, d.TryGetProperty("runs", out var runs) ? runs.GetArrayLength() : 0);
    }

    [Fact]
    public async Task Preflight_warns_when_the_joined_coordinator_does_not_answer()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("w5");
        var plan = agent.Node.WritePlan(AgentApplyTests.Plan);
        var up = await agent.Node.AgentAsync(["apply", plan, "--dry-run", AgentApplyTests.IgnoreAbsentRuntime]);
        Assert.DoesNotContain("[Coordinator]", up.StdOut);
        await _cluster.KillCoordinatorAsync();
        var down = await agent.Node.AgentAsync(["apply", plan, "--dry-run", AgentApplyTests.IgnoreAbsentRuntime]);
        Assert.Contains($"[Coordinator] coordinator {_cluster.Address} is not reachable", down.StdOut);
    }
}
