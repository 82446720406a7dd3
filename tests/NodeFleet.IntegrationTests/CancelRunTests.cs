using System.Text;
using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>`nodefleet node cancel`: a run stuck on a node is stopped from the CLI, fails with the reason and is undone.</summary>
public sealed class CancelRunTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<JsonElement?> LastRunAsync(string node)
    {
        using var doc = JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", node, "-o", "json"));
        var runs = doc.RootElement.GetProperty("runs");
        return runs.GetArrayLength() == 0 ? null : runs[0].Clone();
    }

    [Fact]
    public async Task A_run_stuck_in_a_download_is_cancelled_and_undone_and_the_node_takes_plans_again()
    {
        await using var http = await HttpFiles.StartAsync();
        var agent = await _cluster.JoinedOnlineAgentAsync("c1");
        Assert.Contains("runs no plan", (await _cluster.CliAsync("node", "cancel", "c1")).StdErr);

        // The mirror answers only after 100 s: without the cancel the run would end then, and succeed.
        var (url, sha) = http.Add("tool", Encoding.ASCII.GetBytes("#!/bin/sh\n"), TimeSpan.FromSeconds(100));
        var plan = Path.Combine(_cluster.Scratch, "slow.yaml");
        await File.WriteAllTextAsync(plan, AgentApplyTests.PlanWithArtifact("tool", url, sha));
        await _cluster.CliOkAsync("plan", "apply", plan, "--node", "c1", AgentApplyTests.IgnoreAbsentRuntime);
        await agent.Run!.WaitForOutputAsync("[stage-artifacts/download-tool] running", TimeSpan.FromSeconds(30));
        await Proc.WaitUntilAsync(async () => (await _cluster.NodeAsync("c1"))?.GetProperty("phase").GetString() == "stage-artifacts",
            TimeSpan.FromSeconds(30), "the coordinator to see c1 in stage-artifacts");

        var cancel = await _cluster.CliOkAsync("node", "cancel", "c1", "--reason", "mirror hangs");
        Assert.StartsWith("cancel sent to node c1 for run node-config-", cancel);
        Assert.Contains("(plan node-config generation 1, in stage-artifacts): it stops at its current step and undoes the run", cancel);

        await Proc.WaitUntilAsync(async () => (await LastRunAsync("c1"))?.GetProperty("state").GetString() is "RUN_STATE_FAILED" or "RUN_STATE_UNDONE",
            TimeSpan.FromSeconds(60), "the cancelled run to end");
        var run = (await LastRunAsync("c1"))!.Value;
        Assert.Equal("error execution phase stage-artifacts/download-tool: cancelled by the operator: mirror hangs",
            run.GetProperty("error").GetString());
        var reasons = (await _cluster.CliOkAsync("events", "--node", "c1", "-o", "json"));
        Assert.Contains("\"CancelRequested\"", reasons);
        Assert.Contains("mirror hangs", reasons);

        // Nothing runs any more: nothing to cancel, and a new plan is taken at once.
        var again = await _cluster.CliAsync("node", "cancel", "c1");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("error: node c1 runs no plan (as its reports say): there is nothing to cancel", again.StdErr);
        var (fastUrl, fastSha) = http.Add("tool2", Encoding.ASCII.GetBytes("#!/bin/sh\n"));
        var fast = Path.Combine(_cluster.Scratch, "fast.yaml");
        await File.WriteAllTextAsync(fast, AgentApplyTests.PlanWithArtifact("tool2", fastUrl, fastSha));
        var applied = await _cluster.CliAsync("plan", "apply", fast, "--node", "c1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(applied.ExitCode == 0, applied.ToString());
    }
}
