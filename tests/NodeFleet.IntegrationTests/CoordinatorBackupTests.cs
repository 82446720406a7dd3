using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// `nodefleet-coordinator backup` while the coordinator runs, `restore` into a fresh data directory, and the old
/// failure (coordinator.db copied without its write-ahead log) refused at start. Real coordinator processes and files.
/// </summary>
public sealed class CoordinatorBackupTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private string NewDataDir(string name)
    {
        // What a data directory keeps besides the database (unchanged since init): the PKI and admin.conf.
        var dir = Path.Combine(_cluster.Scratch, name);
        Directory.CreateDirectory(Path.Combine(dir, "pki"));
        foreach (var f in Directory.GetFiles(Path.Combine(_cluster.DataDir, "pki")))
            File.Copy(f, Path.Combine(dir, "pki", Path.GetFileName(f)));
        File.Copy(_cluster.AdminConf, Path.Combine(dir, "admin.conf"));
        return dir;
    }

    private async Task<(string[] Tokens, string[] Nodes, string[] Runs)> StateAsync()
    {
        using var tokens = JsonDocument.Parse(await _cluster.CliOkAsync("token", "list", "-o", "json"));
        var ids = tokens.RootElement.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetString()!).Order().ToArray();
        var nodes = (await _cluster.NodesJsonAsync()).EnumerateArray().Select(n => n.GetProperty("name").GetString()!).ToArray();
        using var describe = JsonDocument.Parse(await _cluster.CliOkAsync("node", "describe", "n1", "-o", "json"));
        var runs = describe.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("runId").GetString()!).ToArray();
        return (ids, nodes, runs);
    }

    [Fact]
    public async Task A_backup_taken_while_running_restores_into_a_fresh_data_directory_with_the_same_state()
    {
        var (token, _) = await _cluster.CreateTokenAsync("--usages", "0");
        await _cluster.CreateTokenAsync("--description", "second");
        using var n1 = await RawNode.JoinAsync(_cluster, "n1", token);
        (await RawNode.JoinAsync(_cluster, "n2", token)).Dispose();
        await RawNode.ReportAsync(_cluster, n1, new StepReport
        {
            Sequence = 1, RunId = "run-1", PlanName = "p", Generation = 1, RunState = RunState.Running, JournalEpoch = "00000000000000aa",
        });
        var before = await StateAsync();
        Assert.Equal(["n1", "n2"], before.Nodes);
        Assert.Equal(["run-1"], before.Runs);

        var backup = Path.Combine(_cluster.Scratch, "backup.db");
        var taken = await Proc.RunAsync(Binaries.Coordinator, ["backup", "--data-dir", _cluster.DataDir, "--to", backup]);
        Assert.True(taken.ExitCode == 0, taken.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));

        // Not over the running coordinator's directory.
        var busy = await Proc.RunAsync(Binaries.Coordinator, ["restore", "--data-dir", _cluster.DataDir, "--from", backup]);
        Assert.Equal(1, busy.ExitCode);
        Assert.Contains("in use by another coordinator", busy.StdErr);

        // The old failure: coordinator.db copied alone while the coordinator runs. Refused at start, not started empty.
        var dbOnly = NewDataDir("db-only");
        File.Copy(Path.Combine(_cluster.DataDir, "coordinator.db"), Path.Combine(dbOnly, "coordinator.db"));
        var refused = await Proc.RunAsync(Binaries.Coordinator,
            ["run", "--data-dir", dbOnly, "--listen", $"127.0.0.1:{Proc.FreePort()}", "--metrics-listen", "off"], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("write-ahead log", refused.StdErr);

        var fresh = NewDataDir("fresh");
        var restored = await Proc.RunAsync(Binaries.Coordinator, ["restore", "--data-dir", fresh, "--from", backup]);
        Assert.True(restored.ExitCode == 0, restored.ToString());

        // The same address (admin.conf names it), now served from the restored directory.
        await _cluster.KillCoordinatorAsync();
        await using var second = Proc.Start(Binaries.Coordinator,
            ["run", "--data-dir", fresh, "--listen", _cluster.Address, "--metrics-listen", "off"]);
        await second.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
        var after = await StateAsync();
        Assert.Equal(before.Tokens, after.Tokens);
        Assert.Equal(before.Nodes, after.Nodes);
        Assert.Equal(before.Runs, after.Runs);
    }
}
