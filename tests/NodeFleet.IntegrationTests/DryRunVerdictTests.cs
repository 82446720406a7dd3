using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// A dry run fails as the apply would when preflight blocks (here: no container runtime answers on the node), both
/// locally (`nodefleet-agent apply --dry-run`) and over the wire (`nodefleet plan diff`), still showing every step.
/// </summary>
public sealed class DryRunVerdictTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_dry_run_that_preflight_would_stop_fails_and_still_shows_the_steps()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("w1");
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var file = agent.Node.WritePlan(AgentApplyTests.Plan);

        var local = await agent.Node.AgentAsync(["apply", file, "--dry-run"]);
        Assert.True(local.ExitCode == 1, local.ToString());
        Assert.Contains("[preflight/checks] blocked", local.StdOut);
        Assert.Contains("[containerd-config/config-toml] would write /etc/containerd/config.toml", local.StdOut);
        Assert.Contains("error: applying the plan on this node would stop at [preflight/checks]", local.StdErr);

        var diff = await _cluster.CliAsync("plan", "diff", file, "--node", "w1");
        Assert.True(diff.ExitCode == 1, diff.ToString());
        Assert.Contains("[containerd-config/config-toml] would write /etc/containerd/config.toml", diff.StdOut);
        Assert.Contains("error: applying the plan on node w1 would stop at [preflight/checks]", diff.StdErr);

        // Ignoring the checks it names, the same dry runs pass.
        Assert.Equal(0, (await agent.Node.AgentAsync(["apply", file, "--dry-run", AgentApplyTests.IgnoreAbsentRuntime])).ExitCode);
        Assert.Equal(0, (await _cluster.CliAsync("plan", "diff", file, "--node", "w1", AgentApplyTests.IgnoreAbsentRuntime)).ExitCode);
        Assert.Equal("version = 2\n", agent.Node.Read("/etc/containerd/config.toml"));
    }
}
