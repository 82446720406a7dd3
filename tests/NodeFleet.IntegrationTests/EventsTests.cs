using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>`nodefleet events [-f]`: events listed from the database and streamed live as they are committed.</summary>
public sealed class EventsTests : IAsyncLifetime
{
    private const int SIGINT = 2;
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(heartbeat: "1s");
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private BackgroundProc Follow(params string[] args) =>
        Proc.Start(Binaries.Cli, ["events", "-f", .. args], new Dictionary<string, string> { ["NODEFLEET_CONFIG"] = _cluster.AdminConf });

    private async Task<List<JsonElement>> EventsJsonAsync(params string[] args)
    {
        using var doc = JsonDocument.Parse(await _cluster.CliOkAsync(["events", "-o", "json", .. args]));
        return doc.RootElement.GetProperty("items").EnumerateArray().Select(e => e.Clone()).ToList();
    }

    [Fact]
    public async Task Labels_and_deletes_are_listed_as_events()
    {
        await _cluster.JoinedOnlineAgentAsync("n1");
        Assert.Equal("node/n1 labeled\n", await _cluster.CliOkAsync("node", "label", "n1", "zone=a"));
        // The same again, or removing a label that is not there, changes nothing and records nothing.
        Assert.Equal("node/n1 not labeled\n", await _cluster.CliOkAsync("node", "label", "n1", "zone=a", "nosuch-", "--overwrite"));
        await _cluster.CliOkAsync("node", "delete", "n1");

        var table = (await _cluster.CliOkAsync("events")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+ACTOR\s+MESSAGE$", table[0]);
        Assert.Contains(table, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d+s\s+Normal\s+Labeled\s+node/n1\s+admin\s+zone=a$"));
        Assert.Contains(table, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d+s\s+Warning\s+Deleted\s+node/n1\s+admin\s+node deleted"));

        var items = await EventsJsonAsync("--node", "n1");
        Assert.Equal(["Joined", "Online", "Labeled", "Deleted"], items.Select(e => e.GetProperty("reason").GetString()).Where(r => r != "Offline"));
        Assert.All(items, e => Assert.Equal("n1", e.GetProperty("node").GetString()));
        var last = Assert.Single(await EventsJsonAsync("--node", "n1", "--limit", "1"));
        Assert.Equal("Deleted", last.GetProperty("reason").GetString());

        var none = await _cluster.CliAsync("events", "--node", "nobody");
        Assert.Equal(0, none.ExitCode);
        Assert.Equal("", none.StdOut);
        Assert.Contains("No events found.", none.StdErr);
        var bad = await _cluster.CliAsync("events", "--limit", "-1");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--limit", bad.StdErr);
    }

    [Fact]
    public async Task Follow_streams_a_nodes_events_as_they_happen()
    {
        var n1 = await _cluster.JoinedOnlineAgentAsync("n1");
        await _cluster.JoinedOnlineAgentAsync("n2");
        await using var table = Follow("--node", "n1");
        await using var json = Follow("-o", "json", "--limit", "0");
        // The recent events come first: once they are printed, the watch is subscribed.
        await table.WaitForOutputAsync("Online", TimeSpan.FromSeconds(60));

        // A stopped agent keeps its connection but stops heartbeating: offline after three missed 1s heartbeats.
        n1.Run!.Pause();
        await table.WaitForOutputAsync("missed 3 heartbeats", TimeSpan.FromSeconds(60));
        Assert.Matches(@"(?m)^\d+s\s+Warning\s+Offline\s+node/n1\s+coordinator\s+missed 3 heartbeats", table.Output);
        await _cluster.CliOkAsync("node", "label", "n2", "tier=web");
        await json.WaitForOutputAsync("\"reason\":\"Labeled\"", TimeSpan.FromSeconds(60));
        Assert.DoesNotContain("n2", table.Output);

        // JSON Lines: one event object per line, nothing else; --limit 0 sent none of the earlier events.
        var lines = json.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var reasons = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("reason").GetString()).ToList();
        Assert.Equal(["Offline", "Labeled"], reasons);

        // Ctrl+C ends the watch quietly.
        Proc.Signal(json.Pid, SIGINT);
        Assert.Equal(0, await json.WaitForProcessExitAsync(TimeSpan.FromSeconds(60)));
        Assert.False(table.HasExited);
    }

    [Fact]
    public async Task A_node_certificate_cannot_list_or_watch_events()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("n3");
        using var key = ECDsa.Create();
        key.ImportFromPem(await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.key")));
        using var cert = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(agent.HostPath("/etc/nodefleet/pki/node.crt")));
        using var nodeCert = cert.CopyWithPrivateKey(key);
        using var channel = GrpcChannels.Create(_cluster.Address, ClientConfig.Load(_cluster.AdminConf).CaCertificate(), nodeCert);
        var events = new Events.EventsClient(channel);

        var list = await Assert.ThrowsAsync<RpcException>(async () => await events.ListAsync(new WatchEventsRequest()));
        Assert.Equal(StatusCode.PermissionDenied, list.StatusCode);
        Assert.Contains("admin certificate", list.Status.Detail);
        using var watch = events.Watch(new WatchEventsRequest());
        var w = await Assert.ThrowsAsync<RpcException>(async () => await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.PermissionDenied, w.StatusCode);
    }
}
