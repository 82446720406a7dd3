using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// What one node can do to the store and to everyone's lists: oversized reports and facts, and a fleet larger than a
/// page. A real coordinator; the "node" is a real join and a real mTLS stream driven by the test.
/// </summary>
public sealed class StoreLimitsTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync();
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private X509Certificate2 Ca() => ClientConfig.Load(_cluster.AdminConf).CaCertificate();

    /// <summary>Joins <paramref name="name"/> over the real bootstrap API and returns its certificate with its key.</summary>
    private async Task<X509Certificate2> JoinAsync(string name, string token, NodeFacts? facts = null)
    {
        using var key = Pki.NewKey();
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), null);
        var response = await new Bootstrap.BootstrapClient(channel).JoinAsync(new JoinRequest
        {
            Token = token, NodeName = name, CsrPem = Pki.CreateCsrPem(key, name), Facts = facts ?? new NodeFacts { Hostname = name },
        });
        using var cert = X509Certificate2.CreateFromPem(response.CertificatePem);
        return cert.CopyWithPrivateKey(key);
    }

    private async Task<string> TokenAsync() => (await _cluster.CreateTokenAsync("--usages", "0")).Token;

    [Fact]
    public async Task A_report_with_a_4_MB_output_tail_is_stored_cut_with_a_marker_and_every_list_still_works()
    {
        var token = await TokenAsync();
        using var cert = await JoinAsync("big", token);
        (await JoinAsync("other", token)).Dispose();

        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), cert);
        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = "big" } } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None)); // welcome
        var tail = "first line\n" + new string('x', 4_000_000) + "\nthe error at the end";
        await call.RequestStream.WriteAsync(new AgentMessage
        {
            Report = new StepReport
            {
                Sequence = 1, RunId = "run1", PlanName = "p", Generation = 1, Phase = "preflight", Step = "s1",
                State = StepState.Failed, RunState = RunState.Running, Message = new string('m', 100_000), OutputTail = tail,
                JournalEpoch = "0123456789abcdef",
            },
        });
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.KindCase == CoordinatorMessage.KindOneofCase.ReportAck) break;
        }

        // Listed and described, for this node and the others, by the real CLI.
        var nodes = await _cluster.NodesJsonAsync();
        Assert.Equal(["big", "other"], nodes.EnumerateArray().Select(n => n.GetProperty("name").GetString()).Order());
        var describe = await _cluster.CliOkAsync("node", "describe", "big", "-o", "json");
        Assert.True(describe.Length < 64 * 1024, $"describe is {describe.Length} characters");
        using var doc = JsonDocument.Parse(describe);
        var step = doc.RootElement.GetProperty("runs")[0].GetProperty("steps")[0];
        var storedTail = step.GetProperty("outputTail").GetString()!;
        Assert.StartsWith("[… ", storedTail);
        Assert.Contains("characters cut by NodeFleet", storedTail);
        Assert.EndsWith("the error at the end", storedTail);
        Assert.True(storedTail.Length <= NodeLimits.MaxOutputTail);
        Assert.True(step.GetProperty("message").GetString()!.Length <= NodeLimits.MaxMessage);
        await _cluster.CliOkAsync("node", "describe", "other");
        await _cluster.CliOkAsync("nodes");

        // The store's size is a gauge: the database and its log, which hold the cut report, not 4 MB of it.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = await http.GetStringAsync(_cluster.MetricsUrl + "/metrics");
        var line = metrics.Split('\n').Single(l => l.StartsWith("nodefleet_store_size_bytes ", StringComparison.Ordinal));
        var size = double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(size, 8192, 4_000_000);
    }

    [Fact]
    public async Task Facts_beyond_their_limit_are_refused_at_join_and_at_hello_naming_the_fact()
    {
        var token = await TokenAsync();
        var join = await Assert.ThrowsAsync<RpcException>(() =>
            JoinAsync("huge", token, new NodeFacts { Hostname = "huge", Kernel = new string('k', 3_900_000) }));
        Assert.Equal(StatusCode.InvalidArgument, join.StatusCode);
        Assert.Contains("fact kernel is 3900000 characters", join.Status.Detail);
        Assert.True(join.Status.Detail.Length < 400, join.Status.Detail);
        Assert.Empty((await _cluster.NodesJsonAsync()).EnumerateArray());

        using var cert = await JoinAsync("n1", token);
        using var channel = GrpcChannels.Create(_cluster.Address, Ca(), cert);
        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = new string('h', 1_000_000) } } });
        var hello = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.InvalidArgument, hello.StatusCode);
        Assert.Contains("fact hostname", hello.Status.Detail);
        var stored = (await _cluster.NodeAsync("n1"))!.Value;
        Assert.Equal("n1", stored.GetProperty("facts").GetProperty("hostname").GetString());
    }

    [Fact]
    public async Task Nodes_lists_every_node_of_a_fleet_larger_than_a_page()
    {
        var token = await TokenAsync();
        var names = Enumerable.Range(0, 7).Select(i => $"node-{i}").ToList();
        foreach (var n in names) (await JoinAsync(n, token)).Dispose();

        var listed = await _cluster.NodesJsonAsync("--chunk-size", "2");
        Assert.Equal(names, listed.EnumerateArray().Select(n => n.GetProperty("name").GetString()!));

        // The API itself: pages of 3, each with the token of the next, the last with none.
        var config = ClientConfig.Load(_cluster.AdminConf);
        using var channel = GrpcChannels.Create(_cluster.Address, config.CaCertificate(), config.ClientCertificate());
        var fleet = new Fleet.FleetClient(channel);
        var page = await fleet.ListNodesAsync(new ListNodesRequest { PageSize = 3 });
        Assert.Equal(3, page.Nodes.Count);
        Assert.NotEmpty(page.NextPageToken);
        var last = await fleet.ListNodesAsync(new ListNodesRequest { PageSize = 5, PageToken = page.NextPageToken });
        Assert.Equal(names[3..], last.Nodes.Select(n => n.Name));
        Assert.Empty(last.NextPageToken);
    }
}
