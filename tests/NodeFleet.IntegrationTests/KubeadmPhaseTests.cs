using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The agent's kubeadm phase through a real coordinator and agent, kubeadm being the recording
/// <see cref="KubeadmStandIn"/> (kubeadm cannot run here): the command the coordinator's choice names is the one
/// run, a dry run shows it, and a kubeadm failure fails the run with kubeadm's output and undoes it.
/// </summary>
public sealed class KubeadmPhaseTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    internal static string WithKubeadm(string plan, string kubeadm) => plan + "\n  kubeadm:\n" + kubeadm;

    private string WritePlan(string yaml)
    {
        var path = Path.Combine(_cluster.Scratch, $"plan-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private async Task<JsonElement> LastRunAsync(string node)
    {
        using var doc = JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", node, "-o", "json"));
        return doc.RootElement.GetProperty("runs")[0].Clone();
    }

    private static Dictionary<string, JsonElement> Steps(JsonElement run) => run.GetProperty("steps").EnumerateArray()
        .ToDictionary(s => $"{s.GetProperty("phase").GetString()}/{s.GetProperty("step").GetString()}");

    [Fact]
    public async Task An_upgrade_plan_runs_kubeadm_upgrade_node_from_the_kubeadm_artifact_and_the_dry_run_shows_it()
    {
        await using var http = await HttpFiles.StartAsync();
        var agent = await _cluster.JoinedOnlineAgentAsync("u1");
        var kubeadm = new KubeadmStandIn(agent.Node);
        kubeadm.SetClusterVersion("v1.31.2");
        var (url, sha) = http.Add("kubeadm", kubeadm.Script);
        var plan = WritePlan(WithKubeadm(AgentApplyTests.PlanWithArtifact("kubeadm", url, sha), "    mode: upgrade"));

        var diff = await _cluster.CliOkAsync("plan", "diff", plan, "--node", "u1", AgentApplyTests.IgnoreAbsentRuntime);
        Assert.Contains("[kubeadm/upgrade-node] would run /usr/local/bin/kubeadm upgrade node\n", diff);
        Assert.Empty(kubeadm.Calls());

        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "u1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(["upgrade node"], kubeadm.Calls());
        Assert.Contains("(upgrade node) for v1.31.2", agent.Node.Read("/var/lib/kubelet/config.yaml"));

        var steps = Steps(await LastRunAsync("u1"));
        Assert.Equal("STEP_STATE_SUCCEEDED", steps["kubeadm/upgrade-node"].GetProperty("state").GetString());
        Assert.Contains("The configuration for this node was successfully upgraded", steps["kubeadm/upgrade-node"].GetProperty("outputTail").GetString());
        // kubeadm is installed before it runs, and the phases after it run after it.
        var order = steps.Keys.ToList();
        Assert.True(order.IndexOf("install-artifacts/install-kubeadm") < order.IndexOf("kubeadm/upgrade-node"));
        Assert.True(order.IndexOf("kubeadm/upgrade-node") < order.IndexOf("kubelet-config/drop-in"));
    }

    [Fact]
    public async Task A_join_plan_runs_kubeadm_join_with_its_config_file_only_once_the_file_is_private()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("j1");
        var kubeadm = new KubeadmStandIn(agent.Node);
        kubeadm.InstallAt(agent.Node);
        agent.Node.Write("/etc/kubernetes/join.yaml", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n");
        File.SetUnixFileMode(agent.Node.HostPath("/etc/kubernetes/join.yaml"), (UnixFileMode)0b110_100_100);
        var plan = WritePlan(WithKubeadm(AgentApplyTests.Plan, "    mode: join\n    configFile: /etc/kubernetes/join.yaml"));

        var diff = await _cluster.CliOkAsync("plan", "diff", plan, "--node", "j1", AgentApplyTests.IgnoreAbsentRuntime);
        Assert.Contains("[kubeadm/join] blocked: /etc/kubernetes/join.yaml is mode 0644: it holds a bootstrap token", diff);

        File.SetUnixFileMode(agent.Node.HostPath("/etc/kubernetes/join.yaml"), (UnixFileMode)0b110_000_000);
        diff = await _cluster.CliOkAsync("plan", "diff", plan, "--node", "j1", AgentApplyTests.IgnoreAbsentRuntime);
        Assert.Contains("[kubeadm/join] would run /usr/bin/kubeadm join --config /etc/kubernetes/join.yaml\n", diff);

        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "j1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(["join --config /etc/kubernetes/join.yaml"], kubeadm.Calls());
        Assert.NotNull(agent.Node.Read("/etc/kubernetes/kubelet.conf"));
        Assert.Equal("STEP_STATE_SUCCEEDED", Steps(await LastRunAsync("j1"))["kubeadm/join"].GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_failing_kubeadm_fails_the_run_with_its_output_and_the_run_is_undone()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("f1");
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var kubeadm = new KubeadmStandIn(agent.Node);
        kubeadm.InstallAt(agent.Node);
        kubeadm.FailWith("error execution phase preflight: [preflight] Some fatal errors occurred:\n" +
                         "\t[ERROR CoreDNSUnsupportedPlugins]: start version '1.11.1' not supported\n" +
                         "To see the stack trace of this error execute with --v=5 or higher\n");
        var plan = WritePlan(WithKubeadm(AgentApplyTests.Plan, "    mode: upgrade"));

        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "f1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.Equal(1, apply.ExitCode);
        Assert.Contains("failed and was undone on node f1", apply.StdErr);
        Assert.Contains("kubeadm upgrade node exited 1: error execution phase preflight: [preflight] Some fatal errors occurred:", apply.All);
        Assert.Contains("[ERROR CoreDNSUnsupportedPlugins]", apply.All);
        Assert.Equal(["upgrade node"], kubeadm.Calls());

        var run = await LastRunAsync("f1");
        Assert.Equal("RUN_STATE_UNDONE", run.GetProperty("state").GetString());
        Assert.Contains("error execution phase kubeadm/upgrade-node: kubeadm upgrade node exited 1", run.GetProperty("error").GetString());
        var steps = Steps(run);
        Assert.Equal("STEP_STATE_FAILED", steps["kubeadm/upgrade-node"].GetProperty("state").GetString());
        Assert.Contains("[upgrade] Reading configuration from the cluster...", steps["kubeadm/upgrade-node"].GetProperty("outputTail").GetString());
        Assert.Contains("[ERROR CoreDNSUnsupportedPlugins]", steps["kubeadm/upgrade-node"].GetProperty("outputTail").GetString());
        Assert.Equal("STEP_STATE_UNDONE", steps["containerd-config/config-toml"].GetProperty("state").GetString());
        Assert.Equal("version = 2\n", agent.Node.Read("/etc/containerd/config.toml"));
        Assert.Null(agent.Node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf"));
    }

    [Fact]
    public async Task A_kubeadm_upgrade_that_ran_is_not_shown_undone_when_a_later_step_fails()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("k1");
        var kubeadm = new KubeadmStandIn(agent.Node);
        kubeadm.InstallAt(agent.Node);
        agent.Node.FailRestartOf("kubelet");
        var plan = WritePlan(WithKubeadm(AgentApplyTests.Plan, "    mode: upgrade"));

        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "k1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.Equal(1, apply.ExitCode);
        Assert.Equal(["upgrade node"], kubeadm.Calls());
        var steps = Steps(await LastRunAsync("k1"));
        Assert.Equal("STEP_STATE_SUCCEEDED", steps["kubeadm/upgrade-node"].GetProperty("state").GetString());
        Assert.Equal("STEP_STATE_UNDONE", steps["kubelet-config/drop-in"].GetProperty("state").GetString());
        Assert.Contains("not undone: kubeadm/upgrade-node (NodeFleet cannot undo what kubeadm changed)", await _cluster.CliOkAsync("node", "describe", "k1"));
    }
}
