using System.Diagnostics;
using System.Runtime.InteropServices;
using NodeFleet.FleetSim;

// nodefleet-fleetsim: a real coordinator and N simulated agents in this process (issue 7; BENCHMARKS.md).
Options options;
try
{
    if (args.Contains("-h") || args.Contains("--help"))
    {
        Console.WriteLine(Options.Usage);
        return 0;
    }
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n\n{Options.Usage}");
    return 2;
}

// Thousands of agents in one process block on journal commits and fsyncs of their own files as separate machines
// would each on their own; a pool that starts at 2 threads (2 cores) would serialise them behind its slow growth.
ThreadPool.SetMinThreads(Math.Max(64, Environment.ProcessorCount * 16), Math.Max(64, Environment.ProcessorCount * 16));
var limit = Limits.RaiseOpenFiles();
var machine = Machine.Describe();
var command = "nodefleet-fleetsim " + string.Join(' ', args);
var output = Console.Out;
output.WriteLine($"machine: {machine.OneLine}");
output.WriteLine($"scenarios: {string.Join(", ", options.Scenarios)}; {options.Agents} agents{(options.Quick ? " (quick)" : "")}; open-file limit {limit}; " +
                 (options.Store == "postgres" ? $"{options.Coordinators} coordinator(s) on PostgreSQL{(options.LeaseTtl is null ? "" : $", lease TTL {options.LeaseTtl}")}" : "one coordinator on LiteDB"));
var needed = options.Agents + (options.Scenarios.Contains("report-burst") ? options.BurstSenders : 0) + 500;
if (limit < needed)
{
    Console.Error.WriteLine($"error: {options.Agents} agents need about {needed} open files (one socket each, plus this process's own); " +
                            $"the limit is {limit} (raise `ulimit -n`, or use fewer agents)");
    return 1;
}

var work = options.WorkDir ?? Directory.CreateTempSubdirectory("nf-fleetsim-").FullName;
Directory.CreateDirectory(work);
var roots = options.RootsDir
    ?? (Directory.Exists("/dev/shm") ? $"/dev/shm/nf-fleetsim-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}" : Path.Combine(work, "nodes"));
Directory.CreateDirectory(roots);
output.WriteLine($"work directory {work}; agents' roots under {roots}; coordinator nice {options.CoordinatorNice}" +
                 (options.CoordinatorEnv.Count > 0 ? $"; coordinator environment {string.Join(' ', options.CoordinatorEnv)}" : ""));
var results = new Results(output, machine, command);
var exit = 0;
var total = Stopwatch.StartNew();
await using (var fleet = new SimFleet(options, work, roots, output))
{
    void Interrupted(PosixSignalContext context)
    {
        output.WriteLine($"{context.Signal}: stopping the coordinators{(fleet.Postgres is null ? "" : " and PostgreSQL")}; kept {work} and {roots}");
        fleet.StopProcessesNow();
    }
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupted);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupted);
    try
    {
        await fleet.SetUpAsync(CancellationToken.None);
        var scenarios = new Scenarios(options, fleet, results, output);
        var started = Stopwatch.StartNew();
        await fleet.StartAgentsAsync();
        var connectTime = await fleet.WaitAllConnectedAsync(TimeSpan.FromMinutes(10), started);
        output.WriteLine($"{fleet.Agents.Count} agents connected in {connectTime.TotalSeconds:0.0}s; open files {Limits.OpenFileCount()}");
        using var lag = new PoolLag();
        foreach (var s in options.Scenarios)
        {
            output.WriteLine($"== {s}");
            var sw = Stopwatch.StartNew();
            lag.TakeWindow();
            switch (s)
            {
                case "connected": await scenarios.ConnectedAsync(connectTime); break;
                case "noop-rollout": await scenarios.NoopRolloutAsync(); break;
                case "config-rollout": await scenarios.ConfigRolloutAsync(); break;
                case "report-burst": await scenarios.ReportBurstAsync(); break;
                case "restart-storm": await scenarios.RestartStormAsync(); break;
                case "agent-footprint": await scenarios.AgentFootprintAsync(); break;
                case "failover": await scenarios.FailoverAsync(); break;
            }
            var (lagMax, lagP99) = lag.TakeWindow();
            results.Figure(s, "simulator health: thread-pool lag of a 100 ms timer during the scenario, p99", lagP99, "ms");
            results.Note(s, $"simulator thread-pool lag max {lagMax:0} ms (p99 {lagP99:0} ms); agents' link drops show in agents.log");
            output.WriteLine($"   ({s} took {sw.Elapsed.TotalSeconds:0}s; agents' log: {fleet.Log.Warnings} warnings, {fleet.Log.Errors} errors)");
            fleet.Log.Flush();
        }
        if (options.HoldSeconds > 0)
        {
            output.WriteLine($"holding the fleet for {options.HoldSeconds}s: coordinator pid(s) {string.Join(", ", fleet.Coordinators.Where(c => c.Running).Select(c => c.Pid))}, simulator pid {Environment.ProcessId}");
            await Task.Delay(TimeSpan.FromSeconds(options.HoldSeconds));
        }
        results.Check("all", "no agent logged an error", fleet.Log.Errors == 0, $"{fleet.Log.Errors} errors; see {fleet.Log.Path}");
    }
    catch (Exception e) when (e is TimeoutException or InvalidOperationException or Grpc.Core.RpcException or IOException or HttpRequestException)
    {
        results.Check("run", "completed", false, e.Message);
        output.WriteLine(e);
        exit = 1;
    }
    output.WriteLine($"stopping the fleet (total {total.Elapsed.TotalSeconds:0}s)");
}

output.WriteLine();
output.WriteLine(results.Markdown());
if (options.Markdown is not null) await File.AppendAllTextAsync(options.Markdown, results.Markdown() + "\n");
if (options.Json is not null) await File.WriteAllTextAsync(options.Json, results.Json());
if (!results.AllChecksPassed) exit = 1;
output.WriteLine(exit == 0 ? "all checks passed" : "SOME CHECKS FAILED");
if (!options.Keep)
{
    foreach (var dir in new[] { options.WorkDir is null ? work : null, options.RootsDir is null ? roots : null })
    {
        try { if (dir is not null) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
    }
}
else output.WriteLine($"kept: {work} and {roots}");
return exit;
