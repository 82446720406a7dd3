using System.Globalization;
using System.Net;
using System.Net.Security;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>The plain-HTTP observability port: health, readiness and Prometheus metrics of a real coordinator.</summary>
public sealed class ObservabilityTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(heartbeat: "1s");
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(_cluster.MetricsUrl + path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The value of one sample in the exposition text, or null when the series is absent.</summary>
    private async Task<double?> MetricAsync(string series)
    {
        var (status, body) = await GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        var line = body.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    private Task WaitForMetricAsync(string series, Func<double, bool> condition, string what) =>
        Proc.WaitUntilAsync(async () => await MetricAsync(series) is { } v && condition(v), TimeSpan.FromSeconds(20),
            $"{series} {what}");

    [Fact]
    public async Task Health_readiness_and_metrics_answer_on_the_metrics_port_and_only_there()
    {
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await GetAsync("/healthz"));
        Assert.Equal((HttpStatusCode.OK, "ok\n"), await GetAsync("/readyz"));
        var (status, metrics) = await GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("# TYPE nodefleet_connected_agents gauge", metrics);
        Assert.Contains("nodefleet_reports_total{outcome=\"recorded\"} 0", metrics);
        Assert.Contains("process_cpu_seconds_total", metrics);

        // The gRPC services are not reachable through the plain-HTTP port ...
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/nodefleet.v1.Fleet/ListNodes")).Status);

        // ... and the mTLS gRPC port, spoken to with the admin certificate over HTTP/2, has no /metrics.
        var config = ClientConfig.Load(_cluster.AdminConf);
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [config.ClientCertificate()],
                RemoteCertificateValidationCallback = (_, _, _, _) => true, // routing is under test here, not trust
            },
        };
        using var tls = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        foreach (var path in new[] { "/metrics", "/healthz", "/readyz" })
        {
            using var response = await tls.GetAsync($"https://{_cluster.Address}{path}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task Connected_agents_and_node_status_follow_an_agent_joining_and_dying()
    {
        Assert.Equal(0, await MetricAsync("nodefleet_connected_agents"));
        var agent = await _cluster.JoinedOnlineAgentAsync("m1");
        await WaitForMetricAsync("nodefleet_connected_agents", v => v == 1, "to be 1");
        Assert.Equal(1, await MetricAsync("nodefleet_nodes{status=\"online\"}"));
        Assert.Equal(0, await MetricAsync("nodefleet_nodes{status=\"offline\"}"));
        Assert.Equal(1, await MetricAsync("nodefleet_nodes_by_phase{phase=\"none\"}"));

        await agent.Run!.KillHardAsync();
        await _cluster.WaitForStatusAsync("m1", "NODE_STATUS_OFFLINE", TimeSpan.FromSeconds(15));
        await WaitForMetricAsync("nodefleet_connected_agents", v => v == 0, "to be 0");
        Assert.Equal(0, await MetricAsync("nodefleet_nodes{status=\"online\"}"));
        Assert.Equal(1, await MetricAsync("nodefleet_nodes{status=\"offline\"}"));
    }

    [Fact]
    public async Task A_plan_run_is_measured_step_by_step()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("m2");
        agent.Node.Write("/etc/containerd/config.toml", "version = 2\n");
        var plan = Path.Combine(_cluster.Scratch, "plan.yaml");
        await File.WriteAllTextAsync(plan, AgentApplyTests.Plan);
        await _cluster.CliOkAsync("plan", "apply", plan, "--node", "m2", AgentApplyTests.IgnoreAbsentRuntime, "--wait");

        Assert.True(await MetricAsync("nodefleet_reports_total{outcome=\"recorded\"}") > 0);
        Assert.True(await MetricAsync("nodefleet_report_ingest_seconds_count") > 0);
        Assert.Equal(1, await MetricAsync(
            "nodefleet_step_duration_seconds_count{phase=\"kubelet-config\",step=\"drop-in\",result=\"succeeded\"}"));
    }

    [Fact]
    public async Task Metrics_listen_follows_the_settings_precedence_and_off_turns_it_off()
    {
        using var dir = new TempDir();
        var data = dir.Combine("data");
        Assert.Equal(0, (await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--advertise-address", "127.0.0.1:7443"])).ExitCode);
        int filePort = Proc.FreePort(), envPort = Proc.FreePort(), flagPort = Proc.FreePort();
        var config = dir.Combine("coordinator.yaml");
        await File.WriteAllTextAsync(config, $"listen: 127.0.0.1:{Proc.FreePort()}\nmetricsListen: 127.0.0.1:{filePort}\ndataDir: {data}\n");

        async Task<string> Started(IEnumerable<string> extra, Dictionary<string, string>? env)
        {
            await using var p = Proc.Start(Binaries.Coordinator, ["run", "--config", config, .. extra], env);
            await p.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
            await Task.Delay(300); // the metrics line is logged in the same start-up callback round
            return p.Output;
        }

        Assert.Contains($"on http://127.0.0.1:{filePort} (/metrics", await Started([], null));
        var env = new Dictionary<string, string> { ["NODEFLEET_METRICSLISTEN"] = $"127.0.0.1:{envPort}" };
        Assert.Contains($"on http://127.0.0.1:{envPort} (/metrics", await Started([], env));
        Assert.Contains($"on http://127.0.0.1:{flagPort} (/metrics", await Started(["--metrics-listen", $"127.0.0.1:{flagPort}"], env));
        Assert.DoesNotContain("/metrics", await Started(["--metrics-listen", "off"], env));
    }
}
