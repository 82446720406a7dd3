using System.Diagnostics;
using System.Globalization;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;

namespace NodeFleet.Bench;

/// <summary>
/// A drain of N pods by the coordinator's Drainer (real KubernetesClient, TLS, bearer token) against the Kubernetes
/// API test server, with production timings (1 s polls, 1–10 s backoff on a budget's 429). Two shapes: no budgets
/// (the client's own cost), and ten ReplicaSets each under a budget allowing one disruption. API calls are the
/// server's request list; the stand-in kubelet's termination and readiness delays are part of the time.
/// </summary>
public static class DrainBenchmark
{
    private sealed record Shape(string Name, bool Budgets, TimeSpan Termination, TimeSpan ReadyAfter);

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var pods = 100;
        var repeat = 3;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i++])
            {
                case "--pods": pods = value; break;
                case "--repeat": repeat = value; break;
                default: throw new ArgumentException($"unknown option '{args[i - 1]}'");
            }
        }
        Shape[] shapes =
        [
            new("no budgets", false, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200)),
            new("10 budgets, 1 disruption each", true, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200)),
        ];
        output.WriteLine($"drain of {pods} pods (10 ReplicaSets, pods Terminating 200 ms, replacements Ready after 200 ms), {repeat} runs each");
        output.WriteLine($"load average before: {File.ReadAllText("/proc/loadavg").Trim()}");
        output.WriteLine("| shape | time (median, min) | API calls | eviction POSTs | of which refused (429) | pod lists | other |");
        output.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var shape in shapes)
        {
            var runs = new List<(TimeSpan Time, IReadOnlyList<string> Requests, int Refused)>();
            for (var r = 0; r < repeat; r++) runs.Add(await RunOnceAsync(shape, pods));
            var median = runs.OrderBy(x => x.Time).ElementAt(runs.Count / 2);
            var calls = median.Requests;
            var evictions = calls.Count(c => c.StartsWith("POST", StringComparison.Ordinal) && c.Contains("/eviction", StringComparison.Ordinal));
            var lists = calls.Count(c => c.StartsWith("GET /api/v1/pods", StringComparison.Ordinal));
            output.WriteLine($"| {shape.Name} | {median.Time.TotalSeconds:0.00} s, {runs.Min(x => x.Time).TotalSeconds:0.00} s | {calls.Count} | "
                + $"{evictions} | {median.Refused} | {lists} | {calls.Count - evictions - lists} |");
        }
        output.WriteLine($"load average after:  {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    private static async Task<(TimeSpan, IReadOnlyList<string>, int)> RunOnceAsync(Shape shape, int pods)
    {
        await using var server = await KubeApiServer.StartAsync();
        server.AddNode("n1");
        server.AddNode("n2");
        var dir = Directory.CreateTempSubdirectory("nf-bench-drain-");
        try
        {
            var kubeconfig = server.WriteKubeconfig(Path.Combine(dir.FullName, "kubeconfig"));
            using var connection = ClusterConnection.FromKubeconfig("bench", await File.ReadAllBytesAsync(kubeconfig));
            for (var s = 0; s < 10; s++)
            {
                var labels = new Dictionary<string, string> { ["app"] = $"app{s}" };
                server.AddReplicaSet(new TestReplicaSet("default", $"app{s}", pods / 10, labels)
                {
                    PodTerminationDelay = shape.Termination, ReadyAfter = shape.ReadyAfter,
                }, "n1");
                if (shape.Budgets) server.AddPodDisruptionBudget("default", $"app{s}", labels, maxUnavailable: "1");
            }
            await Cordon.CordonAsync(connection.Client, "n1", TimeProvider.System);
            var before = server.Requests.Count;
            var clock = Stopwatch.StartNew();
            var result = await new Drainer(connection.Client).DrainAsync("n1", DrainSpec.Default with { Timeout = TimeSpan.FromMinutes(10) });
            clock.Stop();
            if (result.Outcome != DrainOutcome.Drained || server.PodsOn("n1").Count != 0)
                throw new InvalidOperationException("the drain did not finish: " + result.Describe());
            if (shape.Budgets && Enumerable.Range(0, 10).Any(s => server.MaxUnavailable($"default/app{s}") > 1))
                throw new InvalidOperationException("a budget was violated");
            var refused = server.Record.Count(e => e.Action == KubeApiActions.EvictionRefused);
            return (clock.Elapsed, server.Requests.Skip(before).ToList(), refused);
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
