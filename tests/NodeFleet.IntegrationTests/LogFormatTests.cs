using System.Text.RegularExpressions;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// journald's priority prefixes ("&lt;6&gt;INF …") go to the journal only: an agent whose stdout is a terminal, a
/// pipe or a file — even one started from a service, which inherits JOURNAL_STREAM — writes timestamped lines.
/// </summary>
public sealed partial class LogFormatTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [GeneratedRegex(@"^\d\d:\d\d:\d\d\.\d{3} INF Joined the fleet at ", RegexOptions.Multiline)]
    private static partial Regex TimestampedJoinLine();

    [Fact]
    public async Task Join_with_its_output_piped_writes_no_journald_prefix_even_with_an_inherited_journal_stream()
    {
        var (token, hash) = await _cluster.CreateTokenAsync();
        var agent = _cluster.NewAgent("log1");
        // What a shell started by a systemd service inherits: the service's journal stream, not this process's stdout.
        var join = await Proc.RunAsync(Binaries.Agent,
            ["--root", agent.Root, "join", "--token", token, "--ca-cert-hash", hash, "--node-name", "log1", _cluster.Address],
            new Dictionary<string, string> { ["JOURNAL_STREAM"] = "8:4242" });
        Assert.True(join.ExitCode == 0, join.ToString());
        Assert.DoesNotContain("<6>", join.StdOut);
        Assert.Matches(TimestampedJoinLine(), join.StdOut);
    }
}
