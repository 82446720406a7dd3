using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A real Prometheus (the Debian package) on a free loopback port, private to a test: it scrapes a tiny exporter served
/// here every second, and its rule file fires the critical alert TestAlarm while the exporter says so
/// (<see cref="SetAlarm"/>), resolving it once it does not.
/// </summary>
public sealed class TestPrometheus : IAsyncDisposable
{
    public const string Binary = "/usr/bin/prometheus";
    public const string CriticalQuery = "ALERTS{alertstate=\"firing\",severity=\"critical\"}";

    private readonly TempDir _dir = new("nf-prometheus");
    private WebApplication? _exporter;
    private BackgroundProc? _process;
    private volatile int _alarm;

    public int Port { get; } = Proc.FreePort();
    public string Url => $"http://127.0.0.1:{Port}";

    public static async Task<TestPrometheus> StartAsync(bool alarm = false)
    {
        var p = new TestPrometheus();
        p.SetAlarm(alarm);
        await p.StartAsync();
        return p;
    }

    /// <summary>What the exporter reports: TestAlarm fires within a few seconds of true, resolves within a few of false.</summary>
    public void SetAlarm(bool on) => _alarm = on ? 1 : 0;

    private async Task StartAsync()
    {
        var exporterPort = Proc.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, exporterPort));
        _exporter = builder.Build();
        _exporter.MapGet("/metrics", () => Results.Text(
            $"# HELP nodefleet_test_alarm Whether the test wants its alert firing.\n# TYPE nodefleet_test_alarm gauge\nnodefleet_test_alarm {_alarm}\n",
            "text/plain; version=0.0.4"));
        await _exporter.StartAsync();

        await File.WriteAllTextAsync(_dir.Combine("rules.yml"), """
            groups:
              - name: test
                rules:
                  - alert: TestAlarm
                    expr: nodefleet_test_alarm > 0
                    labels: {severity: critical}
            """);
        await File.WriteAllTextAsync(_dir.Combine("prometheus.yml"), $$"""
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: [{{_dir.Combine("rules.yml")}}]
            scrape_configs:
              - job_name: exporter
                static_configs: [{targets: ["127.0.0.1:{{exporterPort}}"]}]
            """);
        _process = Proc.Start(Binary, ["--config.file=" + _dir.Combine("prometheus.yml"), "--storage.tsdb.path=" + _dir.Combine("data"),
            $"--web.listen-address=127.0.0.1:{Port}"]);
        using var http = new HttpClient();
        await Proc.WaitUntilAsync(async () =>
        {
            try { return (await http.GetAsync($"{Url}/-/ready")).IsSuccessStatusCode; }
            catch (HttpRequestException) { return false; }
        }, TimeSpan.FromSeconds(60), "Prometheus to be ready");
    }

    /// <summary>Waits until the critical query returns series (<paramref name="firing"/>) or none.</summary>
    public async Task WaitForAlertAsync(bool firing)
    {
        using var http = new HttpClient();
        await Proc.WaitUntilAsync(async () =>
        {
            var body = await http.GetStringAsync($"{Url}/api/v1/query?query={Uri.EscapeDataString(CriticalQuery)}");
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.GetProperty("data").GetProperty("result").GetArrayLength() > 0 == firing;
        }, TimeSpan.FromSeconds(60), firing ? "TestAlarm to fire" : "TestAlarm to resolve");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        if (_exporter is not null)
        {
            await _exporter.StopAsync();
            await _exporter.DisposeAsync();
        }
        _dir.Dispose();
    }
}
