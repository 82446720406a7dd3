using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>The coordinator refuses to start on a bad data directory and reads its settings in the usual precedence.</summary>
public sealed class CoordinatorStartupTests
{
    [Fact]
    public async Task Run_refuses_a_missing_or_uninitialised_data_directory()
    {
        using var dir = new TempDir();
        var missing = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", dir.Combine("nope"), "--listen", $"127.0.0.1:{Proc.FreePort()}"]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("does not exist", missing.StdErr);
        Assert.Contains("nodefleet-coordinator init", missing.StdErr);

        var empty = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", dir.Path, "--listen", $"127.0.0.1:{Proc.FreePort()}"]);
        Assert.Equal(1, empty.ExitCode);
        Assert.Contains("not initialised", empty.StdErr);
    }

    [Fact]
    public async Task Flags_beat_environment_which_beats_the_config_file()
    {
        using var dir = new TempDir();
        var data = dir.Combine("data");
        Assert.Equal(0, (await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--advertise-address", "127.0.0.1:7443"])).ExitCode);
        int filePort = Proc.FreePort(), envPort = Proc.FreePort(), flagPort = Proc.FreePort();
        var config = dir.Combine("coordinator.yaml");
        // A metrics port of its own: the default (7444) may be taken on this machine or by another test.
        await File.WriteAllTextAsync(config,
            $"listen: 127.0.0.1:{filePort}\nmetricsListen: 127.0.0.1:{Proc.FreePort()}\ndataDir: {data}\nheartbeatInterval: 7s\n");

        async Task<string> ServingLine(IEnumerable<string> extra, Dictionary<string, string>? env)
        {
            await using var p = Proc.Start(Binaries.Coordinator, ["run", "--config", config, .. extra], env);
            await p.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
            return p.Output;
        }

        Assert.Contains($"serving on 127.0.0.1:{filePort}", await ServingLine([], null));
        var env = new Dictionary<string, string> { ["NODEFLEET_LISTEN"] = $"127.0.0.1:{envPort}" };
        Assert.Contains($"serving on 127.0.0.1:{envPort}", await ServingLine([], env));
        Assert.Contains($"serving on 127.0.0.1:{flagPort}", await ServingLine(["--listen", $"127.0.0.1:{flagPort}"], env));
    }

    [Fact]
    public async Task A_second_coordinator_on_the_same_data_directory_is_refused()
    {
        await using var cluster = await TestCluster.StartAsync();
        var r = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", cluster.DataDir, "--listen", $"127.0.0.1:{Proc.FreePort()}"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("in use by another coordinator", r.StdErr);
        // The first one is unaffected.
        await cluster.CliOkAsync("token", "list");
    }

    [Fact]
    public async Task Bad_settings_are_named()
    {
        using var dir = new TempDir();
        var r = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", dir.Path, "--listen", "nonsense"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("listen address 'nonsense'", r.StdErr);
        var hb = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", dir.Path, "--listen", "127.0.0.1:1", "--heartbeat-interval", "soon"]);
        Assert.Equal(1, hb.ExitCode);
        Assert.Contains("heartbeatInterval", hb.StdErr);
    }
}
