using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeFleet;
using NodeFleet.Agent.Commands;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;
using NodeFleet.Logging;
using Serilog;
using Serilog.Events;

var rootOption = new Option<string>("--root")
{
    Description = "Host root: every host path the agent reads or writes is under it (default /)",
    Recursive = true,
    DefaultValueFactory = _ => "/",
};
var logFormat = new Option<string>("--log-format") { Description = "text (default) or json", Recursive = true };
var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging", Recursive = true };
var systemctl = new Option<string>("--systemctl")
{
    Description = $"systemctl binary the agent drives (default {Systemctl.DefaultPath}; a host path, not under --root)",
    Recursive = true,
    DefaultValueFactory = _ => Systemctl.DefaultPath,
};
var kubeletHealthz = new Option<string>("--kubelet-healthz")
{
    Description = "Kubelet health URL checked by the verify phase (default http://127.0.0.1:10248/healthz)",
    Recursive = true,
    DefaultValueFactory = _ => "http://127.0.0.1:10248/healthz",
};

var address = new Argument<string?>("ADDRESS") { Description = "Coordinator HOST:PORT", Arity = ArgumentArity.ZeroOrOne };
var token = new Option<string>("--token") { Description = "Bootstrap token [a-z0-9]{6}.[a-z0-9]{16}" };
var caHash = new Option<string>("--ca-cert-hash") { Description = "sha256:<hex> pin of the coordinator CA's public key" };
var discoveryFile = new Option<string>("--discovery-file") { Description = "File with the coordinator address and CA (instead of the pin)" };
var unsafeSkip = new Option<bool>("--unsafe-skip-ca-verification") { Description = "Trust the coordinator's CA without a pin (insecure)" };
var nodeName = new Option<string>("--node-name") { Description = "Node name (default: hostname)" };
var labels = new Option<string>("--labels") { Description = "Labels k=v,k2=v2" };
var join = new Command("join", "Join this machine to a coordinator");
join.Arguments.Add(address);
foreach (var o in new Option[] { token, caHash, discoveryFile, unsafeSkip, nodeName, labels }) join.Options.Add(o);
join.SetAction(async (p, ct) => await Guard(async () =>
{
    using var services = BuildServices(p);
    var cmd = new JoinCommand(services.GetRequiredService<HostRoot>(), services.GetRequiredService<FactsCollector>(),
        services.GetRequiredService<ILogger<JoinCommand>>(), TimeProvider.System);
    return await cmd.RunAsync(new JoinCommand.Options(p.GetValue(address), p.GetValue(token), p.GetValue(caHash),
        p.GetValue(discoveryFile), p.GetValue(unsafeSkip), p.GetValue(nodeName), p.GetValue(labels)), Console.Out, ct);
}));

var run = new Command("run", "Run the agent: hold the stream to the coordinator (as the systemd service does)");
run.SetAction(async (p, ct) => await Guard(async () =>
{
    ConfigureLogging(p);
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
    builder.Services.AddSerilog();
    builder.Services.AddSystemd();
    AddAgentServices(builder.Services, p);
    builder.Services.AddSingleton<PlanWorker>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<PlanWorker>());
    builder.Services.AddHostedService<CoordinatorLink>();
    using var host = builder.Build();
    await host.RunAsync(ct);
    return 0;
}));

var output = new Option<string>("--output", "-o") { Description = "Output format: json" };
var status = new Command("status", "Show whether this node joined, where to, and the link state");
status.Options.Add(output);
status.SetAction(p => StatusCommand.Run(new HostRoot(p.GetValue(rootOption)!), p.GetValue(output), Console.Out));

var facts = new Command("facts", "Print the facts this agent reports to the coordinator (OS, kernel, runtime, kubelet, cgroup driver) as JSON");
facts.SetAction(async (p, ct) => await Guard(async () =>
{
    using var services = BuildServices(p);
    var collected = await services.GetRequiredService<FactsCollector>().CollectAsync(ct);
    Console.Out.WriteLine(new Google.Protobuf.JsonFormatter(Google.Protobuf.JsonFormatter.Settings.Default.WithFormatDefaultValues(true)).Format(collected));
    return 0;
}));

var planFile = new Argument<string>("FILE") { Description = "Plan YAML (apiVersion nodefleet.io/v1, kind NodePlan)" };
var dryRun = new Option<bool>("--dry-run") { Description = "Show what would change, change nothing" };
var ignorePreflight = new Option<string[]>("--ignore-preflight-errors")
{
    Description = "Preflight checks whose errors become warnings: ID,ID or all",
    AllowMultipleArgumentsPerToken = true,
};
var apply = new Command("apply", "Apply a plan on this node from a local file (the coordinator does the same over the stream)");
apply.Arguments.Add(planFile);
apply.Options.Add(dryRun);
apply.Options.Add(ignorePreflight);
apply.SetAction(async (p, ct) => await Guard(async () =>
{
    var ignores = (p.GetValue(ignorePreflight) ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
    using var services = BuildServices(p);
    return await ApplyCommand.RunAsync(services, p.GetValue(planFile)!, p.GetValue(dryRun), ignores, Console.Out, ct);
}));

var resetDryRun = new Option<bool>("--dry-run") { Description = "List what would be removed or restored" };
var reset = new Command("reset", "Remove or restore everything NodeFleet ever wrote on this node, from the journal");
reset.Options.Add(resetDryRun);
reset.SetAction(async (p, ct) => await Guard(async () =>
{
    using var services = BuildServices(p);
    return await ApplyCommand.ResetAsync(services, p.GetValue(resetDryRun), Console.Out, ct);
}));

var root = new RootCommand($"NodeFleet agent {BuildInfo.Version}");
root.Options.Add(rootOption);
root.Options.Add(systemctl);
root.Options.Add(kubeletHealthz);
root.Options.Add(logFormat);
root.Options.Add(verbose);
root.Subcommands.Add(join);
root.Subcommands.Add(run);
root.Subcommands.Add(status);
root.Subcommands.Add(facts);
root.Subcommands.Add(apply);
root.Subcommands.Add(reset);
return await root.Parse(args).InvokeAsync();

void ConfigureLogging(ParseResult p) =>
    Log.Logger = LogSetup.Configure(new LoggerConfiguration(), p.GetValue(logFormat),
        p.GetValue(verbose) ? LogEventLevel.Debug : LogEventLevel.Information).CreateLogger();

ServiceProvider BuildServices(ParseResult p)
{
    ConfigureLogging(p);
    var services = new ServiceCollection();
    services.AddLogging(l => l.AddSerilog());
    AddAgentServices(services, p);
    return services.BuildServiceProvider();
}

void AddAgentServices(IServiceCollection services, ParseResult p)
{
    services.AddSingleton(new HostRoot(p.GetValue(rootOption)!));
    services.AddSingleton(TimeProvider.System);
    services.AddSingleton<CommandRunner>();
    services.AddSingleton<FactsCollector>();
    services.AddSingleton<HostFiles>();
    services.AddSingleton<BackupStore>();
    services.AddSingleton<Journal>();
    services.AddSingleton<IServiceManager>(new Systemctl(p.GetValue(systemctl)!));
    services.AddSingleton<ImageServiceFactory>();
    services.AddSingleton(new AgentSettings { KubeletHealthz = p.GetValue(kubeletHealthz)! });
    services.AddSingleton(new HttpClient { Timeout = TimeSpan.FromMinutes(30) });
    services.AddSingleton<PhaseCatalog>();
    services.AddSingleton<OutboxObserver>();
    services.AddSingleton<LogObserver>();
    services.AddSingleton<IRunObserver>(sp => new RunObservers([sp.GetRequiredService<OutboxObserver>(), sp.GetRequiredService<LogObserver>()]));
    services.AddSingleton(Failpoints.FromEnvironment());
    services.AddSingleton<PlanExecutor>();
}

static async Task<int> Guard(Func<Task<int>> action)
{
    try { return await action(); }
    catch (Exception e) when (e is AgentException or ArgumentException or IOException or UnauthorizedAccessException or StepFailedException)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
}
