using System.CommandLine;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using NodeFleet;
using NodeFleet.Agent;
using NodeFleet.Agent.Commands;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;
using NodeFleet.Logging;
using NodeFleet.Plans;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;

var rootOption = new Option<string>("--root")
{
    Description = "Host root: every host file the agent reads or writes is under it (kernel state, processes and the network stay the host's)",
    Recursive = true,
    DefaultValueFactory = _ => "/",
};
var kernelRoot = new Option<string>("--kernel-root")
{
    Description = "Where kernel state (/proc, /sys) is read: / (the running kernel, also under --root) unless a test stands in for it",
    Recursive = true,
    DefaultValueFactory = _ => "/",
};
var logFormat = new Option<string>("--log-format") { Description = "text (default) or json", Recursive = true };
var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging", Recursive = true };
var systemctl = new Option<string>("--systemctl")
{
    Description = "systemctl binary the agent drives (a host path, not under --root)",
    Recursive = true,
    DefaultValueFactory = _ => Systemctl.DefaultPath,
};
var kubeletHealthz = new Option<string>("--kubelet-healthz")
{
    Description = "Kubelet health URL checked by the verify phase",
    Recursive = true,
    DefaultValueFactory = _ => "http://127.0.0.1:10248/healthz",
};

var address = new Argument<string?>("ADDRESS")
{
    Description = "Coordinator HOST:PORT, or several separated by commas (the agent fails over along them); a DNS name may have several addresses",
    Arity = ArgumentArity.ZeroOrOne,
};
var token = new Option<string>("--token") { Description = "Bootstrap token [a-z0-9]{6}.[a-z0-9]{16}" };
var caHash = new Option<string>("--ca-cert-hash") { Description = "sha256:<hex> pin of the coordinator CA's public key" };
var discoveryFile = new Option<string>("--discovery-file") { Description = "File with the coordinator address and CA (instead of the pin)" };
var unsafeSkip = new Option<bool>("--unsafe-skip-ca-verification") { Description = "Trust the coordinator's CA without a pin (insecure)" };
var nodeName = new Option<string>("--node-name") { Description = "Node name (default: hostname)" };
var labels = new Option<string>("--labels") { Description = "Labels k=v,k2=v2" };
var cluster = new Option<string>("--cluster")
{
    Description = "The Kubernetes cluster this node belongs to, as `nodefleet cluster add` named it (sets the label nodefleet.io/cluster)",
};
var planSigner = new Option<string[]>("--plan-signer-hash")
{
    Description = "sha256:<hex> pin of a key whose signed plans this node runs (repeatable; from `nodefleet plan keygen`): unsigned plans and plans signed by another key are refused",
};
var join = new Command("join", "Join this machine to a coordinator");
join.Arguments.Add(address);
foreach (var o in new Option[] { token, caHash, discoveryFile, unsafeSkip, nodeName, labels, cluster, planSigner }) join.Options.Add(o);
join.SetAction(async (p, ct) => await Guard(async () =>
{
    using var agent = Services(p);
    var cmd = new JoinCommand(agent.Root, agent.Facts, agent.Logs.CreateLogger<JoinCommand>(), TimeProvider.System);
    return await cmd.RunAsync(new JoinCommand.Options(p.GetValue(address), p.GetValue(token), p.GetValue(caHash),
        p.GetValue(discoveryFile), p.GetValue(unsafeSkip), p.GetValue(nodeName), p.GetValue(labels), p.GetValue(cluster), p.GetValue(planSigner)), Console.Out, ct);
}));

var run = new Command("run", "Run the agent: hold the stream to the coordinator (as the systemd service does)");
run.SetAction(async (p, ct) => await Guard(async () =>
{
    using var agent = Services(p);
    // A journal that cannot be opened stops the agent here, with its name, rather than failing every plan later.
    agent.Journal.Open();
    using var worker = new PlanWorker(agent.Executor, agent.Logs.CreateLogger<PlanWorker>());
    using var link = new CoordinatorLink(agent.Root, agent.Facts, worker, agent.Executor, agent.Outbox, TimeProvider.System,
        agent.Logs.CreateLogger<CoordinatorLink>());
    return await RunCommand.RunAsync([worker, link], link.FirstConnected, new SystemdNotifier(),
        agent.Logs.CreateLogger(typeof(RunCommand).FullName!), ct);
}));

var output = new Option<string>("--output", "-o") { Description = "Output format: text (default) or json" };
var status = new Command("status", "Show whether this node joined, where to, and the link state");
status.Options.Add(output);
status.SetAction(async (p, ct) => await Guard(() =>
    Task.FromResult(StatusCommand.Run(new HostRoot(p.GetValue(rootOption)!, p.GetValue(kernelRoot)!), p.GetValue(output), Console.Out))));

var facts = new Command("facts", "Print the facts this agent reports to the coordinator (OS, kernel, runtime, kubelet, cgroup driver) as JSON");
facts.SetAction(async (p, ct) => await Guard(async () =>
{
    using var agent = Services(p);
    var collected = await agent.Facts.CollectAsync(ct);
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
var kubeadmAction = new Option<string>("--kubeadm-action")
{
    Description = "What the kubeadm phase runs for a plan with spec.kubeadm: upgrade-apply, upgrade-node or join (left out: the phase is skipped)",
};
kubeadmAction.AcceptOnlyFromAmong([.. NodeFleet.Plans.PlanKubeadm.Actions]);
var apply = new Command("apply", "Apply a plan on this node from a local file (the coordinator does the same over the stream)");
apply.Arguments.Add(planFile);
apply.Options.Add(dryRun);
apply.Options.Add(ignorePreflight);
apply.Options.Add(kubeadmAction);
apply.SetAction(async (p, ct) => await Guard(async () =>
{
    var ignores = (p.GetValue(ignorePreflight) ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
    using var agent = Services(p);
    return await ApplyCommand.RunAsync(agent.Executor, p.GetValue(planFile)!, p.GetValue(dryRun), ignores, Console.Out, ct,
        p.GetValue(kubeadmAction) ?? "");
}));

var resetDryRun = new Option<bool>("--dry-run") { Description = "List what would be removed or restored" };
var reset = new Command("reset", "Remove or restore everything NodeFleet ever wrote on this node, from the journal");
reset.Options.Add(resetDryRun);
reset.SetAction(async (p, ct) => await Guard(async () =>
{
    using var agent = Services(p);
    return await ApplyCommand.ResetAsync(agent.Executor, p.GetValue(resetDryRun), Console.Out, ct);
}));

var root = new RootCommand($"NodeFleet agent {BuildInfo.Version}");
root.Options.Add(rootOption);
root.Options.Add(kernelRoot);
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
// SIGTERM (systemd stopping the unit) and Ctrl+C cancel the command's token; the command then gets as long as `run`
// gives its services to stop (the unit's TimeoutStopSec) before the process exits regardless.
var parsed = root.Parse(args.Length == 0 ? ["--help"] : args);
if (parsed.Action is System.CommandLine.Invocation.ParseErrorAction)
{
    // Like every other failure ("error: ..."), on stderr, plus where to look, instead of the whole help on stdout.
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
    var names = new List<string>();
    for (System.CommandLine.Parsing.SymbolResult? r = parsed.CommandResult; r is not null; r = r.Parent)
        if (r is System.CommandLine.Parsing.CommandResult c) names.Insert(0, c.Command is RootCommand ? "nodefleet-agent" : c.Command.Name);
    Console.Error.WriteLine($"Run '{string.Join(' ', names)} --help' for usage.");
    return 1;
}
return await parsed.InvokeAsync(new InvocationConfiguration
{
    ProcessTerminationTimeout = RunCommand.ShutdownTimeout + TimeSpan.FromSeconds(5),
});

void ConfigureLogging(ParseResult p) =>
    Log.Logger = LogSetup.Configure(new LoggerConfiguration(), p.GetValue(logFormat),
        p.GetValue(verbose) ? LogEventLevel.Debug : LogEventLevel.Information).CreateLogger();

AgentServices Services(ParseResult p)
{
    ConfigureLogging(p);
    return new AgentServices(new HostRoot(p.GetValue(rootOption)!, p.GetValue(kernelRoot)!), p.GetValue(systemctl)!,
        new AgentSettings { KubeletHealthz = p.GetValue(kubeletHealthz)! }, new SerilogLoggerFactory());
}

static async Task<int> Guard(Func<Task<int>> action)
{
    try { return await action(); }
    catch (Exception e) when (e is AgentException or ArgumentException or IOException or UnauthorizedAccessException
        or StepFailedException or ServiceManagerException or ImagePullException or PlanException or InvalidDataException)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
}
