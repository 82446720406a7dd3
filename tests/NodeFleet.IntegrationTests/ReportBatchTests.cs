using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// Report batches over the real link: a coordinator process that takes them records a batch once, acknowledges it by its
/// highest sequence and records nothing twice when it is sent again after a broken stream; a real agent applies a plan
/// through a coordinator that takes batches and through one that does not (single reports, as before).
/// </summary>
public sealed class ReportBatchTests : IAsyncLifetime
{
    private const string RunId = "preflight-20301201120000-a1b2c3";
    private readonly TempDir _dir = new("nf-batch");
    private TestCluster? _cluster;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        _dir.Dispose();
    }

    private static StepReport Report(ulong sequence, RunState run, string step = "", StepState state = StepState.Unspecified) => new()
    {
        Sequence = sequence, RunId = RunId, PlanName = "preflight", Generation = 1, RunState = run,
        Phase = step.Length > 0 ? "preflight" : "", Step = step, State = state, Message = step.Length > 0 ? "satisfied" : "",
        Time = Timestamp.FromDateTime(DateTime.UtcNow), StartedAt = Timestamp.FromDateTime(DateTime.UtcNow), JournalEpoch = "0123456789abcdef",
    };

    /// <summary>A preflight-only plan's reports as an agent numbers them: run started, three steps, run succeeded.</summary>
    private static List<StepReport> Reports() =>
    [
        Report(1, RunState.Running),
        Report(2, RunState.Running, "swap", StepState.Running), Report(3, RunState.Running, "swap", StepState.Succeeded),
        Report(4, RunState.Running, "ip-forward", StepState.Running), Report(5, RunState.Running, "ip-forward", StepState.Succeeded),
        Report(6, RunState.Running, "kernel-modules", StepState.Running), Report(7, RunState.Running, "kernel-modules", StepState.Succeeded),
        Report(8, RunState.Succeeded),
    ];

    private static AgentMessage Batch(IEnumerable<StepReport> reports)
    {
        var batch = new ReportBatch();
        batch.Reports.AddRange(reports);
        return new AgentMessage { ReportBatch = batch };
    }

    /// <summary>A node joined to a new coordinator, its stream open and welcomed.</summary>
    private sealed class Welcomed(System.Security.Cryptography.X509Certificates.X509Certificate2 cert, Grpc.Net.Client.GrpcChannel channel,
        AsyncDuplexStreamingCall<AgentMessage, CoordinatorMessage> call) : IAsyncDisposable
    {
        public AsyncDuplexStreamingCall<AgentMessage, CoordinatorMessage> Call => call;

        public ValueTask DisposeAsync()
        {
            call.Dispose();
            channel.Dispose();
            cert.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private async Task<Welcomed> WelcomedAsync(string name)
    {
        _cluster = await TestCluster.StartAsync();
        var (token, _) = await _cluster.CreateTokenAsync();
        var cert = await RawNode.JoinAsync(_cluster, name, token);
        var channel = GrpcChannels.Create(_cluster.Address, ClientConfig.Load(_cluster.AdminConf).CaCertificate(), cert);
        var call = new AgentLink.AgentLinkClient(channel).Connect();
        var node = new Welcomed(cert, channel, call);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = name } } });
        await NextAsync(call, CoordinatorMessage.KindOneofCase.Welcome);
        return node;
    }

    /// <summary>The next message of <paramref name="kind"/> on the stream (others skipped), within 30 seconds.</summary>
    private static async Task<CoordinatorMessage> NextAsync(AsyncDuplexStreamingCall<AgentMessage, CoordinatorMessage> call,
        CoordinatorMessage.KindOneofCase kind)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            if (call.ResponseStream.Current.KindCase == kind) return call.ResponseStream.Current;
            Assert.NotEqual(CoordinatorMessage.KindOneofCase.ReportAck, call.ResponseStream.Current.KindCase);
        }
        throw new InvalidOperationException($"the stream ended before a {kind}");
    }

    private async Task<double> MetricAsync(string series)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"{_cluster!.MetricsUrl}/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
                   ?? throw new InvalidOperationException($"no {series} in /metrics:\n{text}");
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<JsonElement> RunsAsync(string node)
    {
        using var doc = JsonDocument.Parse(await _cluster!.CliOkAsync("node", "describe", node, "-o", "json"));
        return doc.RootElement.GetProperty("runs").Clone();
    }

    private async Task<int> EventCountAsync(string node, string reason) =>
        Regex.Count(await _cluster!.CliOkAsync("events", "--node", node, "-o", "json"), $"\"{reason}\"");

    [Fact]
    public async Task A_batch_is_recorded_once_acknowledged_by_its_highest_sequence_and_not_again_when_resent_after_a_broken_stream()
    {
        _cluster = await TestCluster.StartAsync();
        var (token, _) = await _cluster.CreateTokenAsync();
        using var cert = await RawNode.JoinAsync(_cluster, "b1", token);
        using var channel = GrpcChannels.Create(_cluster.Address, ClientConfig.Load(_cluster.AdminConf).CaCertificate(), cert);
        var client = new AgentLink.AgentLinkClient(channel);
        var reports = Reports();

        using (var broken = new CancellationTokenSource())
        {
            using var call = client.Connect(cancellationToken: broken.Token);
            await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = "b1" } } });
            var welcome = (await NextAsync(call, CoordinatorMessage.KindOneofCase.Welcome)).Welcome;
            Assert.Contains(LinkFeatures.ReportBatch, welcome.Features);

            // One acknowledgement for the batch, of its highest sequence (no acknowledgement of 1..3 comes before it).
            await call.RequestStream.WriteAsync(Batch(reports.Take(4)));
            Assert.Equal(4ul, (await NextAsync(call, CoordinatorMessage.KindOneofCase.ReportAck)).ReportAck.Sequence);

            // The next batch goes out and the stream breaks before its acknowledgement is read.
            await call.RequestStream.WriteAsync(Batch(reports.Skip(4).Take(3)));
            await broken.CancelAsync();
        }

        // The agent's outbox still holds everything after 4 — say the acknowledgement of 1..4 was lost too: all again.
        using (var call = client.Connect())
        {
            await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = "b1" } } });
            await NextAsync(call, CoordinatorMessage.KindOneofCase.Welcome);
            await call.RequestStream.WriteAsync(Batch(reports));
            Assert.Equal(8ul, (await NextAsync(call, CoordinatorMessage.KindOneofCase.ReportAck)).ReportAck.Sequence);
            await call.RequestStream.CompleteAsync();
        }

        // Each report recorded exactly once, whichever of 5..7 the broken stream's batch got recorded.
        Assert.Equal(8, await MetricAsync("nodefleet_reports_total{outcome=\"recorded\"}"));
        Assert.InRange(await MetricAsync("nodefleet_reports_total{outcome=\"duplicate\"}"), 4, 7);
        var run = Assert.Single((await RunsAsync("b1")).EnumerateArray());
        Assert.Equal("RUN_STATE_SUCCEEDED", run.GetProperty("state").GetString());
        Assert.Equal(["preflight/swap", "preflight/ip-forward", "preflight/kernel-modules"],
            run.GetProperty("steps").EnumerateArray().Select(s => $"{s.GetProperty("phase").GetString()}/{s.GetProperty("step").GetString()}"));
        Assert.Equal(1, await EventCountAsync("b1", "PlanStarted"));
        Assert.Equal(1, await EventCountAsync("b1", "PlanApplied"));
    }

    [Fact]
    public async Task Single_reports_sent_without_waiting_are_each_recorded_once_and_acknowledged_in_order()
    {
        await using var node = await WelcomedAsync("b3");
        var call = node.Call;

        // All eight written at once, as an agent that did not negotiate batches sends its outbox: the coordinator takes
        // those that queued behind the one it is recording into one write, and acknowledges each write by its highest.
        foreach (var r in Reports()) await call.RequestStream.WriteAsync(new AgentMessage { Report = r });
        var acks = new List<ulong>();
        while (acks.LastOrDefault() < 8) acks.Add((await NextAsync(call, CoordinatorMessage.KindOneofCase.ReportAck)).ReportAck.Sequence);
        await call.RequestStream.CompleteAsync();

        Assert.Equal(acks.Order(), acks);
        Assert.Equal(acks.Distinct(), acks);
        Assert.Equal(8, await MetricAsync("nodefleet_reports_total{outcome=\"recorded\"}"));
        Assert.Equal(0, await MetricAsync("nodefleet_reports_total{outcome=\"duplicate\"}"));
        var run = Assert.Single((await RunsAsync("b3")).EnumerateArray());
        Assert.Equal("RUN_STATE_SUCCEEDED", run.GetProperty("state").GetString());
        Assert.Equal(3, run.GetProperty("steps").GetArrayLength());
        Assert.Equal(1, await EventCountAsync("b3", "PlanApplied"));
    }

    [Fact]
    public async Task A_coordinator_refuses_a_batch_larger_than_the_limit_naming_it()
    {
        await using var node = await WelcomedAsync("b2");
        var call = node.Call;
        var many = Enumerable.Range(1, NodeLimits.MaxReportsPerBatch + 1)
            .Select(i => Report((ulong)i, RunState.Running, $"step-{i}", StepState.Running));
        await call.RequestStream.WriteAsync(Batch(many));
        var e = await Assert.ThrowsAsync<RpcException>(() => NextAsync(call, CoordinatorMessage.KindOneofCase.ReportAck));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal($"report_batch of {NodeLimits.MaxReportsPerBatch + 1} reports from node b2; a batch may hold at most {NodeLimits.MaxReportsPerBatch}",
            e.Status.Detail);
        Assert.Equal(0, await MetricAsync("nodefleet_reports_total{outcome=\"recorded\"}"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_real_agent_applies_a_plan_whether_the_coordinator_takes_batches_or_not(bool batches)
    {
        // reportBatches: false is a coordinator that does not list the feature, as one that predates it.
        var config = Path.Combine(_dir.Path, "coordinator.yaml");
        await File.WriteAllTextAsync(config, $"reportBatches: {(batches ? "true" : "false")}\n");
        _cluster = await TestCluster.StartAsync("1s", "--config", config);
        var agent = await _cluster.JoinedOnlineAgentAsync("a1");
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var plan = Path.Combine(_dir.Path, "plan.yaml");
        await File.WriteAllTextAsync(plan, AgentApplyTests.Plan);

        var apply = await _cluster.CliAsync("plan", "apply", plan, "--node", "a1", AgentApplyTests.IgnoreAbsentRuntime, "--wait");
        Assert.True(apply.ExitCode == 0, apply.ToString());

        var run = Assert.Single((await RunsAsync("a1")).EnumerateArray());
        Assert.Equal("RUN_STATE_SUCCEEDED", run.GetProperty("state").GetString());
        var steps = run.GetProperty("steps").EnumerateArray().ToList();
        Assert.True(steps.Count > 5, $"{steps.Count} steps");
        Assert.All(steps, s => Assert.Equal("STEP_STATE_SUCCEEDED", s.GetProperty("state").GetString()));
        Assert.Equal(1, await EventCountAsync("a1", "PlanApplied"));
        // Every report recorded (a run start and end, each step running then succeeded, and any progress), none twice.
        Assert.True(await MetricAsync("nodefleet_reports_total{outcome=\"recorded\"}") >= 2 + 2 * steps.Count);
        Assert.Equal(0, await MetricAsync("nodefleet_reports_total{outcome=\"duplicate\"}"));
        // To a coordinator that does not list the feature, no batch is ever sent.
        if (!batches) Assert.Equal(0, await MetricAsync("nodefleet_report_batches_total"));
    }
}
