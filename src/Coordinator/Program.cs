using System.CommandLine;
using NodeFleet;
using NodeFleet.Coordinator.Commands;
using NodeFleet.Coordinator.Hosting;
using Serilog;

var dataDir = new Option<string>("--data-dir") { Description = $"Data directory (default {DataDirectory.DefaultPath})" };
var sans = new Option<string[]>("--cert-extra-sans")
{
    Description = "Extra DNS names or IPs for the serving certificate (comma-separated or repeated)",
    AllowMultipleArgumentsPerToken = true,
};
var advertise = new Option<string>("--advertise-address") { Description = "HOST[:PORT] nodes use to reach the coordinator (default: first IPv4 address, port 7443)" };
var init = new Command("init", "Create the data directory: CA, serving and admin certificates, admin.conf and the database");
init.Options.Add(dataDir);
init.Options.Add(sans);
init.Options.Add(advertise);
init.SetAction(p => Guard(() => InitCommand.Run(new InitCommand.Settings(
    p.GetValue(dataDir) ?? DataDirectory.DefaultPath,
    (p.GetValue(sans) ?? []).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList(),
    p.GetValue(advertise)), Console.Out, TimeProvider.System)));

var runDataDir = new Option<string>("--data-dir") { Description = $"Data directory (default {DataDirectory.DefaultPath})" };
var listen = new Option<string>("--listen") { Description = "HOST:PORT to serve on (default 0.0.0.0:7443)" };
var metricsListen = new Option<string>("--metrics-listen") { Description = "HOST:PORT for plain-HTTP /metrics, /healthz and /readyz (default 0.0.0.0:7444; \"off\" to disable)" };
var config = new Option<string>("--config") { Description = $"Config file (default {CoordinatorOptions.DefaultConfigFile}, optional)" };
var heartbeat = new Option<string>("--heartbeat-interval") { Description = "Heartbeat period told to agents (default 10s)" };
var maxHeartbeatRate = new Option<string>("--max-heartbeat-rate")
{
    Description = "Heartbeats per second the coordinator asks for at most: a larger fleet is told a longer period (default 100; 0: no bound)",
};
var logFormat = new Option<string>("--log-format") { Description = "text (default) or json" };
var run = new Command("run", "Serve the coordinator");
foreach (var o in new Option[] { runDataDir, listen, metricsListen, config, heartbeat, maxHeartbeatRate, logFormat }) run.Options.Add(o);
run.SetAction(async (p, ct) =>
{
    var overrides = new Dictionary<string, string?>();
    void Set(string key, Option<string> o) { if (p.GetValue(o) is { } v) overrides[key] = v; }
    Set(nameof(CoordinatorOptions.DataDir), runDataDir);
    Set(nameof(CoordinatorOptions.Listen), listen);
    Set(nameof(CoordinatorOptions.MetricsListen), metricsListen);
    Set(nameof(CoordinatorOptions.HeartbeatInterval), heartbeat);
    Set(nameof(CoordinatorOptions.MaxHeartbeatRate), maxHeartbeatRate);
    Set(nameof(CoordinatorOptions.LogFormat), logFormat);
    try
    {
        await using var app = CoordinatorHost.Build(p.GetValue(config), overrides);
        await app.RunAsync(ct);
        // 0 after a normal stop; set when the coordinator stopped itself because of a failure (CoordinatorHost).
        return Environment.ExitCode;
    }
    catch (StartupException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
    catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException se)
    {
        Console.Error.WriteLine($"error: cannot listen: {se.Message}");
        return 1;
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
});

var root = new RootCommand($"NodeFleet coordinator {BuildInfo.Version}");
root.Subcommands.Add(init);
root.Subcommands.Add(run);
return await root.Parse(args).InvokeAsync();

static int Guard(Func<int> action)
{
    try { return action(); }
    catch (Exception e) when (e is StartupException or FormatException or IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
}
