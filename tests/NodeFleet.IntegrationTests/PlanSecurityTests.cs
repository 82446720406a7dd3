using System.Text;
using System.Text.Json;
using Grpc.Core;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The attacks of a compromised coordinator (or of anyone who can send plans), against real coordinator, CLI and
/// agent processes: a plan that replaces a system tool, a kubelet flag that runs static pods, an artifact URL on the
/// node's loopback, and — with signed plans — a plan the pinned key did not sign or that was changed after signing.
/// </summary>
public sealed class PlanSecurityTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;
    private AdminClients _admin = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        _admin = new AdminClients(_cluster);
        var config = NodeFleet.Config.ClientConfig.Load(_cluster.AdminConf);
        _channel = NodeFleet.Net.GrpcChannels.Create(_cluster.Address, config.CaCertificate(), config.ClientCertificate());
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        _admin.Dispose();
        await _cluster.DisposeAsync();
    }

    private Fleet.FleetClient Fleet => new(_channel);

    private string WritePlan(string yaml, string name)
    {
        var path = Path.Combine(_cluster.Scratch, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private async Task<JsonElement> RunsAsync(string node)
    {
        using var doc = JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", node, "-o", "json"));
        return doc.RootElement.GetProperty("runs").Clone();
    }

    private static string InstallingSystemctl => AgentApplyTests.PlanWithArtifact("systemctl", "https://dl.example/systemctl",
        new string('a', 64), "/usr/bin");

    [Fact]
    public async Task A_plan_that_installs_systemctl_is_refused_by_the_cli_the_coordinator_and_the_agent()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("attack1");
        var file = WritePlan(InstallingSystemctl, "systemctl.yaml");
        var line = File.ReadAllLines(file).ToList().FindIndex(l => l.Contains("installPath: /usr/bin/systemctl")) + 1;
        var expected = $"{file}:{line}: spec.artifacts[0].installPath: '/usr/bin/systemctl': systemctl is not a binary a node upgrade installs";

        var cli = await _cluster.CliAsync("plan", "apply", file, "--node", "attack1");
        Assert.Equal(1, cli.ExitCode);
        Assert.StartsWith("error: " + expected, cli.StdErr);

        // Straight to the coordinator's API, as a client other than the CLI could send it.
        var plan = AdminClients.Plan(AgentApplyTests.Plan);
        plan.Spec.Artifacts.Add(new Artifact { Name = "systemctl", Url = "https://dl.example/systemctl", Sha256 = new string('a', 64), InstallPath = "/usr/bin/systemctl" });
        var coordinator = await Assert.ThrowsAsync<RpcException>(() =>
            Fleet.ApplyPlanAsync(new ApplyPlanRequest { Node = "attack1", Plan = plan }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, coordinator.StatusCode);
        Assert.Contains("spec.artifacts[0].installPath: '/usr/bin/systemctl': systemctl is not a binary a node upgrade installs", coordinator.Status.Detail);

        // The agent's own validator, in the agent process, with no coordinator in between.
        var local = await agent.Node.AgentAsync(["apply", file]);
        Assert.Equal(1, local.ExitCode);
        Assert.Contains(expected, local.StdErr);

        Assert.Equal(0, (await RunsAsync("attack1")).GetArrayLength());
        Assert.False(File.Exists(agent.HostPath("/usr/bin/systemctl")));
        Assert.Empty(agent.Node.SystemctlCalls());
    }

    [Fact]
    public async Task A_kubelet_flag_that_runs_static_pods_is_refused_naming_the_flag()
    {
        var plan = AdminClients.Plan(AgentApplyTests.Plan);
        plan.Spec.Kubelet.ExtraArgs["pod-manifest-path"] = "/var/lib/evil";

        var e = await Assert.ThrowsAsync<RpcException>(() => _admin.Rollouts.StartAsync(new StartRolloutRequest { Plan = plan }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal("invalid plan:\nspec.kubelet.extraArgs.pod-manifest-path: --pod-manifest-path is refused: it makes the kubelet " +
            "run static pods from a path or URL the plan chooses, pods no API server admitted", e.Status.Detail);
    }

    [Fact]
    public async Task A_default_agent_refuses_an_artifact_on_loopback_by_address_and_by_name()
    {
        // A node whose config does not allow local addresses, as every node is by default.
        using var node = new NodeRoot(allowLocalArtifacts: false);
        await using var http = await HttpFiles.StartAsync();
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"));
        foreach (var (shown, planUrl) in new[] { ("127.0.0.1", url), ("localhost", url.Replace("127.0.0.1", "localhost")) })
        {
            var r = await node.AgentAsync(["apply", node.WritePlan(AgentApplyTests.PlanWithArtifact("tool", planUrl, sha)), AgentApplyTests.IgnoreAbsentRuntime]);

            Assert.Equal(1, r.ExitCode);
            Assert.Contains($"download of {planUrl} failed: artifact host {shown} is refused: ", r.All);
            Assert.Contains("a loopback address (this node)", r.All);
            Assert.Contains("allowLocalArtifactAddresses: true", r.All);
        }
        Assert.Equal(0, http.Requests);
        Assert.Null(node.Read("/opt/cni/bin/tool"));
    }

    [Fact]
    public async Task A_pinned_agent_runs_only_plans_signed_by_its_key()
    {
        var key = Path.Combine(_cluster.Scratch, "ops.key");
        var other = Path.Combine(_cluster.Scratch, "other.key");
        var keygen = await _cluster.CliOkAsync("plan", "keygen", "--out", key);
        await _cluster.CliOkAsync("plan", "keygen", "--out", other);
        var hash = keygen.Split('\n').Single(l => l.StartsWith("signer hash: ", StringComparison.Ordinal))["signer hash: ".Length..];
        var agent = await _cluster.JoinedOnlineAgentAsync("signed1", "--plan-signer-hash", hash, "--labels", "fleet=signed");
        Assert.Contains($"Plans:         only signed by {hash}\n", (await agent.StatusAsync()).StdOut);

        // Unsigned: refused by the agent, the refusal recorded by the coordinator, nothing done.
        var unsigned = WritePlan(AgentApplyTests.Plan, "unsigned.yaml");
        var r = await _cluster.CliAsync("plan", "apply", unsigned, "--node", "signed1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"refused by this agent, nothing done: the plan is not signed; this node runs only plans signed by {hash}", r.All);

        // Signed by a key the node does not pin.
        var byOther = WritePlan(AgentApplyTests.Plan, "by-other.yaml");
        await _cluster.CliOkAsync("plan", "sign", byOther, "--key", other);
        r = await _cluster.CliAsync("plan", "apply", byOther, "--node", "signed1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("a key this node does not pin", r.All);

        // Signed by the pinned key, then changed on the way (as a coordinator in other hands would): refused.
        var signed = WritePlan(AgentApplyTests.Plan, "signed.yaml");
        await _cluster.CliOkAsync("plan", "sign", signed, "--key", key);
        var tampered = AdminClients.Plan(AgentApplyTests.Plan);
        tampered.Signature = PlanSignatureFile.Load(signed, AdminClients.Plan(AgentApplyTests.Plan));
        tampered.Spec.Kubelet.ExtraArgs["max-pods"] = "500";
        await Fleet.ApplyPlanAsync(new ApplyPlanRequest { Node = "signed1", Plan = tampered, IgnorePreflightErrors = { "CRI", "Mirror-127.0.0.1:5000" } });
        await Proc.WaitUntilAsync(async () => (await RunsAsync("signed1")).GetArrayLength() == 3, TimeSpan.FromSeconds(30), "the tampered plan's run");
        var runs = await RunsAsync("signed1");
        Assert.All(runs.EnumerateArray(), run => Assert.Equal("RUN_STATE_FAILED", run.GetProperty("state").GetString()));
        Assert.Contains("does not match its content: the plan was changed after it was signed", runs[0].GetProperty("error").GetString());
        Assert.Null(agent.Node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf"));
        Assert.Empty(agent.Node.SystemctlCalls());

        // Signed by the pinned key and unchanged: applied.
        r = await _cluster.CliAsync("plan", "apply", signed, "--node", "signed1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("--max-pods=50", agent.Node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf"));

        // A rollout of a signed plan: its preparation (the disruptive phases skipped) and its wave both pass.
        var next = WritePlan(AgentApplyTests.Plan.Replace("max-pods: \"50\"", "max-pods: \"60\""), "next.yaml");
        await _cluster.CliOkAsync("plan", "sign", next, "--key", key);
        var start = new StartRolloutRequest { Plan = AdminClients.Plan(File.ReadAllText(next)), Selector = "fleet=signed", IgnorePreflightErrors = { "CRI", "Mirror-127.0.0.1:5000" } };
        start.Plan.Signature = PlanSignatureFile.Load(next, start.Plan);
        var rollout = await _admin.Rollouts.StartAsync(start);
        await _admin.WaitForStateAsync(rollout.Id, RolloutState.Succeeded, TimeSpan.FromSeconds(90));
        Assert.Contains("--max-pods=60", agent.Node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf"));
    }
}
