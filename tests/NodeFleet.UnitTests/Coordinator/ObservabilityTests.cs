using Microsoft.Extensions.Hosting;
using System.Text;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Store;
using NodeFleet.Tests.TestSupport;
using Prometheus;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Metrics as Prometheus scrapes them, readiness, and the metricsListen setting.</summary>
public sealed class ObservabilityTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();
    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();

    public Task InitializeAsync() => Task.CompletedTask;
    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private async Task<string[]> ScrapeAsync()
    {
        using var stream = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(stream);
        return Encoding.UTF8.GetString(stream.ToArray()).Split('\n').Where(l => !l.StartsWith('#') && l.Length > 0).ToArray();
    }

    [Fact]
    public async Task Fleet_gauges_are_computed_at_scrape_time_from_presence_and_the_store()
    {
        var presence = new Presence(_rig.Time);
        _ = new FleetGauges(_registry, presence, new HeartbeatPacer(TimeSpan.FromSeconds(10), 200), _rig.Store);
        var token = await _rig.CreateTokenAsync();
        foreach (var name in new[] { "a", "b", "c" }) (await _rig.JoinAsync(token, name)).Key.Dispose();
        await _rig.Registry.MarkOnlineAsync("a", null, "10.0.0.1:1");
        await _rig.Registry.MarkOnlineAsync("b", null, "10.0.0.2:1");
        await _rig.Store.WriteAsync(s =>
        {
            var n = s.Nodes.Get("b")!;
            n.Phase = "kubelet-config";
            s.Nodes.Update(n);
        });
        presence.Open("a");
        presence.Open("b");

        var lines = await ScrapeAsync();
        Assert.Contains("nodefleet_connected_agents 2", lines);
        Assert.Contains("nodefleet_nodes{status=\"online\"} 2", lines);
        Assert.Contains("nodefleet_nodes{status=\"offline\"} 1", lines);
        Assert.Contains("nodefleet_nodes_by_phase{phase=\"none\"} 2", lines);
        Assert.Contains("nodefleet_nodes_by_phase{phase=\"kubelet-config\"} 1", lines);

        // The phase is over: its series goes away instead of staying at zero.
        await _rig.Store.WriteAsync(s =>
        {
            var n = s.Nodes.Get("b")!;
            n.Phase = "";
            s.Nodes.Update(n);
        });
        presence.Kick("a");
        lines = await ScrapeAsync();
        Assert.Contains("nodefleet_connected_agents 1", lines);
        Assert.Contains("nodefleet_nodes_by_phase{phase=\"none\"} 3", lines);
        Assert.DoesNotContain(lines, l => l.Contains("kubelet-config"));
    }

    [Fact]
    public async Task Rollout_counts_replace_the_previous_states_and_can_be_removed()
    {
        var rollouts = new RolloutMetrics(_registry);
        rollouts.Set("r1", new Dictionary<string, int> { ["pending"] = 3, ["running"] = 1 });
        rollouts.Set("r2", new Dictionary<string, int> { ["succeeded"] = 2 });
        rollouts.Set("r1", new Dictionary<string, int> { ["running"] = 2, ["succeeded"] = 2 });
        var lines = await ScrapeAsync();
        Assert.Contains("nodefleet_rollout_nodes{rollout=\"r1\",state=\"running\"} 2", lines);
        Assert.Contains("nodefleet_rollout_nodes{rollout=\"r1\",state=\"succeeded\"} 2", lines);
        Assert.DoesNotContain("nodefleet_rollout_nodes{rollout=\"r1\",state=\"pending\"} 3", lines);
        Assert.DoesNotContain(lines, l => l.Contains("state=\"pending\""));

        rollouts.Remove("r1");
        lines = await ScrapeAsync();
        Assert.DoesNotContain(lines, l => l.Contains("rollout=\"r1\""));
        Assert.Contains("nodefleet_rollout_nodes{rollout=\"r2\",state=\"succeeded\"} 2", lines);
    }

    [Fact]
    public async Task Report_and_step_metrics_are_exported_with_their_labels()
    {
        var metrics = new CoordinatorMetrics(_registry);
        var lines = await ScrapeAsync();
        // Both outcomes exist before the first report, so alerts on them work from the start.
        Assert.Contains("nodefleet_reports_total{outcome=\"recorded\"} 0", lines);
        Assert.Contains("nodefleet_reports_total{outcome=\"duplicate\"} 0", lines);

        metrics.CountReport(recorded: true);
        metrics.CountReport(recorded: false);
        metrics.CountReport(recorded: true);
        metrics.ObserveReportIngest(TimeSpan.FromMilliseconds(3));
        metrics.ObserveStep("prepull-images", "pull", "succeeded", TimeSpan.FromSeconds(42));
        metrics.ObserveStep("verify", "runtime", "failed", TimeSpan.FromSeconds(-1)); // skewed clocks: not observed
        lines = await ScrapeAsync();
        Assert.Contains("nodefleet_reports_total{outcome=\"recorded\"} 2", lines);
        Assert.Contains("nodefleet_reports_total{outcome=\"duplicate\"} 1", lines);
        Assert.Contains("nodefleet_report_ingest_seconds_count 1", lines);
        Assert.Contains("nodefleet_step_duration_seconds_count{phase=\"prepull-images\",step=\"pull\",result=\"succeeded\"} 1", lines);
        Assert.Contains("nodefleet_step_duration_seconds_sum{phase=\"prepull-images\",step=\"pull\",result=\"succeeded\"} 42", lines);
        Assert.DoesNotContain(lines, l => l.Contains("phase=\"verify\""));
    }

    [Fact]
    public async Task Ready_once_started_with_the_store_open_and_not_while_stopping()
    {
        var lifetime = new FakeLifetime();
        var readiness = new Readiness(_rig.Store, lifetime);
        Assert.Equal("the gRPC endpoint is not listening yet", readiness.NotReadyReason());
        lifetime.Started.Cancel();
        Assert.Null(readiness.NotReadyReason());
        lifetime.Stopping.Cancel();
        Assert.Equal("shutting down", readiness.NotReadyReason());

        var other = new Readiness(_rig.Store, new FakeLifetime(started: true));
        await _rig.Store.DisposeAsync();
        Assert.Equal("the database is not open", other.NotReadyReason());
        await _rig.ReopenAsync(); // so the rig's own disposal has a store to close
    }

    [Theory]
    [InlineData("")]
    [InlineData("off")]
    [InlineData(" OFF ")]
    public void MetricsListen_empty_or_off_disables_the_endpoint(string value)
    {
        var o = new CoordinatorOptions { MetricsListen = value };
        o.Validate();
        Assert.Null(o.MetricsEndpoint);
    }

    [Fact]
    public void MetricsListen_defaults_to_7444_and_is_checked()
    {
        var o = new CoordinatorOptions();
        Assert.Equal(7444, o.MetricsEndpoint!.Port);
        var bad = Assert.Throws<StartupException>(() => new CoordinatorOptions { MetricsListen = "nowhere" }.Validate());
        Assert.Contains("metricsListen", bad.Message);
        var same = Assert.Throws<StartupException>(() =>
            new CoordinatorOptions { Listen = "127.0.0.1:7443", MetricsListen = "0.0.0.0:7443" }.Validate());
        Assert.Contains("another port", same.Message);
    }

    private sealed class FakeLifetime(bool started = false) : IHostApplicationLifetime
    {
        public CancellationTokenSource Started { get; } = Cancelled(started);
        public CancellationTokenSource Stopping { get; } = new();
        public CancellationToken ApplicationStarted => Started.Token;
        public CancellationToken ApplicationStopping => Stopping.Token;
        public CancellationToken ApplicationStopped => CancellationToken.None;
        public void StopApplication() => Stopping.Cancel();

        private static CancellationTokenSource Cancelled(bool cancelled)
        {
            var cts = new CancellationTokenSource();
            if (cancelled) cts.Cancel();
            return cts;
        }
    }
}
