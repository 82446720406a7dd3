using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The fleet simulator's quick mode (a real coordinator, a few hundred simulated agents in one process, every scenario
/// shortened) as a CI smoke test: it asserts that the scenarios complete and are correct, never how fast they were.
/// </summary>
public sealed class FleetSimSmokeTests
{
    private static string FleetSim => Path.Combine(Binaries.RepoRoot, "bench", "NodeFleet.FleetSim", "bin", Binaries.Configuration, "net10.0", "nodefleet-fleetsim");

    [Fact]
    public async Task Quick_mode_completes_every_scenario_correctly()
    {
        Assert.True(File.Exists(FleetSim), $"{FleetSim} is not built");
        using var dir = new TempDir("nf-fleetsim-smoke");
        var json = dir.Combine("results.json");
        var r = await Proc.RunAsync(FleetSim, ["all", "--quick", "--work", dir.Combine("work"), "--json", json], timeout: TimeSpan.FromMinutes(10));
        Assert.True(File.Exists(json), r.ToString());
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var checks = doc.RootElement.GetProperty("checks").EnumerateArray()
            .Select(c => (Scenario: c.GetProperty("scenario").GetString()!, Name: c.GetProperty("name").GetString()!,
                Ok: c.GetProperty("ok").GetBoolean(), Detail: c.GetProperty("detail").GetString()!))
            .ToList();
        var failed = checks.Where(c => !c.Ok).Select(c => $"{c.Scenario}: {c.Name}: {c.Detail}").ToList();
        Assert.True(failed.Count == 0, string.Join('\n', failed) + "\n" + r);

        void Passed(string scenario, string nameStart) =>
            Assert.True(checks.Any(c => c.Scenario == scenario && c.Name.StartsWith(nameStart, StringComparison.Ordinal) && c.Ok),
                $"no passing check '{nameStart}' in {scenario}:\n{r.StdOut}");
        Passed("connected", "all agents online");
        Passed("noop-rollout", "rollout of");
        Passed("noop-rollout", "every agent's journal has a succeeded run");
        Passed("config-rollout", "rollout of");
        Passed("config-rollout", "10 nodes, ");
        Passed("config-rollout", "50 nodes: drop-in and hosts.toml written");
        Passed("report-burst", "every report acknowledged");
        Passed("report-burst", "0 lost");
        Passed("restart-storm", "all agents back online");
        Passed("restart-storm", "0 steps re-applied");
        Passed("agent-footprint", "JIT");
        Assert.Equal(0, r.ExitCode);
    }
}
