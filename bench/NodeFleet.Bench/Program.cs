using System.Globalization;
using NodeFleet.Bench;

// nodefleet-bench: benchmarks of NodeFleet against the tools an operator would otherwise use (BENCHMARKS.md).
//   dotnet run -c Release --project bench/NodeFleet.Bench -- prepull [--repeat 5] [--warmup 1] [--agent PATH]
//       [--also-agent LABEL=PATH]... [--markdown FILE] [--logs DIR]
//   dotnet run -c Release --project bench/NodeFleet.Bench -- drain [--pods 100] [--repeat 3]

const string Usage = """
    usage: nodefleet-bench prepull [options]
           nodefleet-bench drain [--pods N] [--repeat N]   (a drain of N pods against the Kubernetes API test server)

    Pre-pulls the kubeadm v1.31.2 image set (7 small images) and the same set plus a 20 MB, 4-layer image of random
    data from a local registry mirror, with `nodefleet-agent apply` (prepull-images only) and with `ctr images pull`
    (3 in parallel, as the agent, and one after the other), each run on a fresh containerd root. Prints the median
    and minimum of each, their ratio, where the agent's time goes, and the machine.

    options:
      --repeat N        measured repetitions per image set and tool (default 5)
      --warmup N        unmeasured repetitions first (default 1): page cache, registry, JIT of this program
      --agent PATH      the nodefleet-agent binary (default src/Agent/bin/Release/net10.0/nodefleet-agent;
                        build it with `dotnet build src/Agent -c Release`)
      --also-agent LABEL=PATH
                        measure another agent build in the same run, e.g. a prototype fix (repeatable)
      --markdown FILE   also write the results as Markdown (the tables of BENCHMARKS.md)
      --logs DIR        keep every agent run's JSON log and plan under DIR
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}
if (args[0] == "drain") return await DrainBenchmark.RunAsync(args[1..], Console.Out);
if (args[0] != "prepull")
{
    Console.Error.WriteLine($"unknown command '{args[0]}'\n\n{Usage}");
    return 2;
}

var options = new PrepullOptions();
try
{
    for (var i = 1; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        int Count(int min)
        {
            var name = args[i];
            var v = Value();
            return int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min
                ? n
                : throw new ArgumentException($"{name}: '{v}' is not a whole number ≥ {min}");
        }
        switch (args[i])
        {
            case "--repeat": options = options with { Repeat = Count(1) }; break;
            case "--warmup": options = options with { Warmup = Count(0) }; break;
            case "--agent": options = options with { Agent = Path.GetFullPath(Value()) }; break;
            case "--also-agent":
                var spec = Value();
                var eq = spec.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0 || eq == spec.Length - 1) throw new ArgumentException($"--also-agent: '{spec}' is not LABEL=PATH");
                options = options with { OtherAgents = [.. options.OtherAgents, (spec[..eq], Path.GetFullPath(spec[(eq + 1)..]))] };
                break;
            case "--markdown": options = options with { Markdown = Path.GetFullPath(Value()) }; break;
            case "--logs": options = options with { LogsDirectory = Path.GetFullPath(Value()) }; break;
            case "-h" or "--help": Console.WriteLine(Usage); return 0;
            default: throw new ArgumentException($"unknown option '{args[i]}'");
        }
    }
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n\n{Usage}");
    return 2;
}

try
{
    return await new PrepullBenchmark(options, Console.Out).RunAsync();
}
catch (Exception e) when (e is FileNotFoundException or InvalidOperationException or TimeoutException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
