using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Core;
using NodeFleet.Cri.V1;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;

namespace NodeFleet.Bench;

public sealed record PrepullOptions
{
    public int Repeat { get; init; } = 5;
    public int Warmup { get; init; } = 1;
    public string? Agent { get; init; }
    /// <summary>More agent builds to measure in the same run (e.g. a prototype fix), by label.</summary>
    public IReadOnlyList<(string Label, string Path)> OtherAgents { get; init; } = [];
    public string? Markdown { get; init; }
    public string? LogsDirectory { get; init; }
}

/// <summary>How the images are pulled into a fresh containerd.</summary>
public enum Kind
{
    /// <summary>`nodefleet-agent apply` of a plan that runs prepull-images only (a real process).</summary>
    Agent,
    /// <summary>`ctr images pull`, one process per image, 3 at a time (NodeFleet's default parallelism).</summary>
    CtrParallel,
    /// <summary>`ctr images pull`, one process per image, one after the other.</summary>
    CtrSequential,
    /// <summary>CRI PullImage from this process, 3 at a time: the runtime's CRI pull path without the agent around it.</summary>
    CriInProcess,
}

/// <summary>One of the ways compared; <see cref="Agent"/> is the binary for <see cref="Kind.Agent"/>.</summary>
public sealed record Contender(string Label, Kind Kind, string? Agent = null);

public sealed record ImageSet(string Name, string ShortName, IReadOnlyList<string> References);

/// <param name="Cpu">CPU time of the tool's own processes (agent, or all ctr processes); null in-process.</param>
/// <param name="RuntimeCpu">containerd's CPU time during the run.</param>
public sealed record Sample(ImageSet Set, Contender Contender, int Repetition, TimeSpan Elapsed, TimeSpan? Cpu, TimeSpan RuntimeCpu,
    long FetchedBytes = 0, int Requests = 0, AgentBreakdown? Breakdown = null, TimeSpan? StatusAbsent = null, TimeSpan? StatusPresent = null);

/// <summary>
/// Image pre-pull: NodeFleet's agent against containerd's own `ctr`, on one machine in one run, same registry, same
/// images, a fresh containerd (new root, so no blob is cached) for every measured run. See BENCHMARKS.md.
/// </summary>
public sealed class PrepullBenchmark(PrepullOptions options, TextWriter output)
{
    /// <summary>NodeFleet's default (PullSettings.Parallelism in src/Agent/Phases/ImageSteps.cs); ctr ×3 matches it.</summary>
    public const int Parallelism = 3;

    public const string KubernetesVersion = "v1.31.2";
    public const string Upstream = "registry.k8s.io";
    public const string LargeName = "nodefleet-bench/random-20mb";
    public const string LargeTag = "v1";
    public const double Target = 1.10;
    public const string PrimaryLabel = "nodefleet-agent apply";

    private static readonly string[] OtherPhases =
        ["preflight", "stage-artifacts", "containerd-config", "install-artifacts", "kubelet-config", "restart-services", "verify"];

    private static readonly string[] AllPhases = [.. OtherPhases, "prepull-images"];

    private static readonly Contender CtrParallel = new($"ctr pull ×{Parallelism}", Kind.CtrParallel);

    public async Task<int> RunAsync()
    {
        var agent = options.Agent ?? Binaries.Agent;
        Contender primary = new(PrimaryLabel, Kind.Agent, agent);
        List<Contender> contenders =
        [
            primary,
            .. options.OtherAgents.Select(a => new Contender($"{PrimaryLabel} [{a.Label}]", Kind.Agent, a.Path)),
            CtrParallel,
            new("ctr pull sequential", Kind.CtrSequential),
            new($"CRI in-process ×{Parallelism}", Kind.CriInProcess),
        ];
        var agents = contenders.Where(c => c.Kind == Kind.Agent).ToList();
        foreach (var f in agents.Select(a => a.Agent!).Concat([Ctr.Binary, "/usr/bin/containerd", TestRegistry.Binary, TestImages.Umoci, TestImages.Skopeo]))
        {
            if (!File.Exists(f))
                throw new FileNotFoundException(agents.Any(a => a.Agent == f)
                    ? $"{f} is missing: build it with `dotnet build src/Agent -c Release` or pass --agent PATH"
                    : $"{f} is missing: apt-get install containerd docker-registry skopeo umoci");
        }
        if (options.LogsDirectory is not null) Directory.CreateDirectory(options.LogsDirectory);

        var machine = await Machine.DescribeAsync();
        var loadBefore = LoadAverage();
        output.WriteLine("NodeFleet benchmark: image pre-pull, nodefleet-agent vs ctr");
        foreach (var l in machine.Lines()) output.WriteLine(l);
        foreach (var a in agents) output.WriteLine($"agent:      {a.Label}: {a.Agent} (built {File.GetLastWriteTimeUtc(a.Agent!):yyyy-MM-dd HH:mm:ss} UTC)");
        output.WriteLine($"load:       {loadBefore} (1, 5, 15 min) at the start");
        output.WriteLine($"runs:       {options.Warmup} warm-up + {options.Repeat} measured per image set and way; " +
                         "a fresh containerd root for every run");
        output.WriteLine();

        await using var registry = await TestRegistry.StartNewAsync();
        var sw = Stopwatch.StartNew();
        var kubeadm = await TestImages.PushKubeadmSetAsync(registry, KubernetesVersion);
        var large = await TestImages.PushLargeAsync(registry, LargeName, LargeTag);
        output.WriteLine($"registry {registry.Url}: built and pushed {kubeadm.Count + 1} images in {Stats.Format(sw.Elapsed)}");
        var small = kubeadm.Select(i => i.As(Upstream)).ToList();
        ImageSet[] sets =
        [
            new($"kubeadm {KubernetesVersion} (7 small images)", "kubeadm", small),
            new($"kubeadm {KubernetesVersion} + 20 MB random, 4 layers (8 images)", "kubeadm+20MB", [.. small, large.As(Upstream)]),
        ];
        foreach (var s in sets) output.WriteLine($"  {s.ShortName}: {string.Join(", ", s.References)}");
        output.WriteLine();

        var samples = new List<Sample>();
        for (var rep = -options.Warmup; rep < options.Repeat; rep++)
        {
            foreach (var set in sets)
            {
                // The order rotates from round to round, so that no way always runs first (or right after another).
                for (var k = 0; k < contenders.Count; k++)
                {
                    var contender = contenders[(k + rep + options.Warmup) % contenders.Count];
                    var s = await RunOnceAsync(set, contender, rep, registry);
                    if (rep >= 0) samples.Add(s);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{(rep < 0 ? "warm-up" : $"run {rep + 1}/{options.Repeat}"),-9} {set.ShortName,-13} {contender.Label,-40} " +
                        $"{Stats.Format(s.Elapsed),10}  cpu {(s.Cpu is { } c ? Stats.Format(c) : "-"),9} + containerd {Stats.Format(s.RuntimeCpu),9}  " +
                        $"{Stats.MiB(s.FetchedBytes),9} in {s.Requests} requests"));
                }
            }
        }
        output.WriteLine();

        var overheads = new List<(Contender Agent, Overheads Costs)>();
        foreach (var a in agents) overheads.Add((a, await OverheadsAsync(a.Agent!)));
        var ctrVersion = new List<TimeSpan>();
        for (var rep = -options.Warmup; rep < options.Repeat; rep++)
        {
            var t = await TimeAsync(Ctr.Binary, ["--version"]);
            if (rep >= 0) ctrVersion.Add(t);
        }

        var report = Report(machine, loadBefore, LoadAverage(), sets, contenders, samples, overheads, ctrVersion);
        output.WriteLine(report.Text);
        if (options.Markdown is not null)
        {
            await File.WriteAllTextAsync(options.Markdown, report.Markdown);
            output.WriteLine($"Markdown written to {options.Markdown}");
        }
        return 0;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    // ---- one measured run ----

    private async Task<Sample> RunOnceAsync(ImageSet set, Contender contender, int rep, TestRegistry registry)
    {
        using var node = new NodeRoot();
        // The runtime's socket and certs.d live where the plan and the containerd-config phase put them, under --root.
        var socket = node.HostPath("/run/containerd/containerd.sock");
        var certsDir = node.HostPath("/etc/containerd/certs.d");
        // What containerd-config would write for the plan's mirror; that phase is skipped, so it is written here, for
        // every way alike: CRI reads it through config_path, ctr through --hosts-dir.
        ContainerdMirror.WriteHostsToml(certsDir, Upstream, registry);
        await using var containerd = await RuntimeDaemons.StartContainerdAsync(Path.Combine(node.Scratch, "containerd"), socket,
            systemdCgroup: false, certsDir);
        await WaitForCriAsync(socket);
        var before = registry.AllRequests.Count;
        var runtimeCpu = CpuTime.Of(containerd.Pid);
        var childrenCpu = CpuTime.Children();

        var sample = contender.Kind switch
        {
            Kind.Agent => await AgentAsync(node, set, contender, rep, registry),
            Kind.CtrParallel => await CtrAsync(socket, certsDir, set, Parallelism),
            Kind.CtrSequential => await CtrAsync(socket, certsDir, set, 1),
            _ => await CriInProcessAsync(socket, set),
        };
        runtimeCpu = CpuTime.Of(containerd.Pid) - runtimeCpu;
        TimeSpan? cpu = contender.Kind == Kind.CriInProcess ? null : CpuTime.Children() - childrenCpu;

        // Outside the measured time: every image is there, under the name the node asked for, and was fetched.
        var present = await Ctr.ImagesAsync(socket);
        var missing = set.References.Where(r => !present.Contains(r)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"{contender.Label}: missing after the pull: {string.Join(", ", missing)}\n{containerd.Output}");
        var (bytes, requests) = await FetchedSinceAsync(registry, before);
        if (requests == 0) throw new InvalidOperationException($"{contender.Label}: no request reached the mirror with ns={Upstream}");
        return sample with
        {
            Set = set, Contender = contender, Repetition = rep, Cpu = cpu, RuntimeCpu = runtimeCpu, FetchedBytes = bytes, Requests = requests,
        };
    }

    private static string PlanYaml(ImageSet set, string mirrorUrl, IEnumerable<string> skip) => $"""
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: bench-prepull
        spec:
          kubernetesVersion: {KubernetesVersion}
          runtime:
            kind: containerd
            endpoint: unix:///run/containerd/containerd.sock
            cgroupDriver: cgroupfs
          registry:
            mirrors:
              {Upstream}: ["{mirrorUrl}"]
          images:
        {string.Join('\n', set.References.Select(r => $"    - {r}"))}
          skipPhases: [{string.Join(", ", skip)}]

        """;

    private static string[] AgentArgs(NodeRoot node, string plan) =>
        ["--root", node.Root, "--systemctl", node.Systemctl, "--log-format", "json", "apply", plan];

    private async Task<Sample> AgentAsync(NodeRoot node, ImageSet set, Contender contender, int rep, TestRegistry registry)
    {
        var plan = node.WritePlan(PlanYaml(set, registry.Url, OtherPhases));
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var r = await Proc.RunAsync(contender.Agent!, AgentArgs(node, plan), timeout: TimeSpan.FromMinutes(10));
        sw.Stop();
        var exited = DateTime.UtcNow;
        if (options.LogsDirectory is not null)
        {
            var name = $"{(rep < 0 ? $"warmup{-rep}" : $"run{rep + 1}")}-{set.ShortName}-{string.Concat(contender.Label.Split(Path.GetInvalidFileNameChars().Append(' ').ToArray()))}";
            await File.WriteAllTextAsync(Path.Combine(options.LogsDirectory, name + ".plan.yaml"), await File.ReadAllTextAsync(plan));
            await File.WriteAllTextAsync(Path.Combine(options.LogsDirectory, name + ".log"), r.All);
        }
        if (r.ExitCode != 0 || !r.StdOut.Contains("plan bench-prepull applied", StringComparison.Ordinal))
            throw new InvalidOperationException($"{contender.Label} failed: {r}");
        var breakdown = AgentBreakdown.From(started, exited, AgentEvent.Parse(r.StdOut), "prepull-images");
        return new Sample(set, contender, rep, sw.Elapsed, null, TimeSpan.Zero, Breakdown: breakdown);
    }

    private static async Task<Sample> CtrAsync(string socket, string certsDir, ImageSet set, int parallelism)
    {
        // `--snapshotter native`: the snapshotter the CRI plugin is configured with (RuntimeDaemons), so both unpack the
        // same way (ctr's default would be overlayfs). No --plain-http: hosts.toml names the mirror with http://.
        var sw = Stopwatch.StartNew();
        await Parallel.ForEachAsync(set.References, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (reference, _) =>
        {
            var r = await Ctr.CtrAsync(socket, "images", "pull", "--hosts-dir", certsDir, "--snapshotter", "native", reference);
            if (r.ExitCode != 0) throw new InvalidOperationException($"ctr images pull {reference} failed: {r}");
        });
        sw.Stop();
        return new Sample(set, CtrParallel, 0, sw.Elapsed, null, TimeSpan.Zero);
    }

    private static async Task<Sample> CriInProcessAsync(string socket, ImageSet set)
    {
        // Not measured: how long the sequential ImageStatus checks the agent makes take on a warm connection, with the
        // images absent (before) and present (after). A channel of its own, so the measured pulls open their own.
        using var statusChannel = UnixSockets.GrpcChannel(socket);
        var status = new ImageService.ImageServiceClient(statusChannel);
        await status.ImageFsInfoAsync(new ImageFsInfoRequest());
        var absent = await SequentialStatusAsync(status, set);

        var sw = Stopwatch.StartNew();
        using (var channel = UnixSockets.GrpcChannel(socket))
        {
            var images = new ImageService.ImageServiceClient(channel);
            await Parallel.ForEachAsync(set.References, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (reference, ct) =>
                await images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = reference } }, cancellationToken: ct));
        }
        sw.Stop();

        var present = await SequentialStatusAsync(status, set);
        return new Sample(set, CtrParallel, 0, sw.Elapsed, null, TimeSpan.Zero, StatusAbsent: absent, StatusPresent: present);
    }

    private static async Task<TimeSpan> SequentialStatusAsync(ImageService.ImageServiceClient client, ImageSet set)
    {
        var sw = Stopwatch.StartNew();
        foreach (var reference in set.References)
            await client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = reference } });
        return sw.Elapsed;
    }

    private static async Task WaitForCriAsync(string socket)
    {
        using var channel = UnixSockets.GrpcChannel(socket);
        var runtime = new RuntimeService.RuntimeServiceClient(channel);
        await Proc.WaitUntilAsync(async () =>
        {
            try
            {
                await runtime.VersionAsync(new VersionRequest { Version = "v1" });
                return true;
            }
            catch (RpcException) { return false; }
        }, TimeSpan.FromSeconds(20), $"CRI on {socket}");
    }

    /// <summary>Bytes of blobs served with ns=registry.k8s.io (through the mirror entry) since request number <paramref name="before"/>.</summary>
    private static async Task<(long Bytes, int Requests)> FetchedSinceAsync(TestRegistry registry, int before)
    {
        // The access log reaches us through a pipe: wait until it stops growing.
        var count = -1;
        for (var i = 0; i < 20; i++)
        {
            var now = registry.AllRequests.Count;
            if (now == count) break;
            count = now;
            await Task.Delay(50);
        }
        var mine = registry.AllRequests.Skip(before).Where(r => r.Path.Contains($"ns={Upstream}", StringComparison.Ordinal)).ToList();
        return (mine.Where(r => r is { Method: "GET", Status: 200 } && r.Path.Contains("/blobs/", StringComparison.Ordinal)).Sum(r => r.Bytes),
            mine.Count);
    }

    // ---- what an agent costs without pulling anything ----

    private sealed record Overheads(List<TimeSpan> Version, List<TimeSpan> ApplyNothing);

    private async Task<Overheads> OverheadsAsync(string agent)
    {
        var result = new Overheads([], []);
        for (var rep = -options.Warmup; rep < options.Repeat; rep++)
        {
            var v = await TimeAsync(agent, ["--version"]);
            using var node = new NodeRoot();
            // Every phase skipped: start-up, plan load and validation, journal open and the run's records, no runtime call.
            var plan = node.WritePlan(PlanYaml(new ImageSet("none", "none", [$"{Upstream}/pause:3.10"]), "http://127.0.0.1:5000", AllPhases));
            var a = await TimeAsync(agent, AgentArgs(node, plan));
            if (rep < 0) continue;
            result.Version.Add(v);
            result.ApplyNothing.Add(a);
        }
        return result;
    }

    private static async Task<TimeSpan> TimeAsync(string file, string[] args)
    {
        var sw = Stopwatch.StartNew();
        var r = await Proc.RunAsync(file, args);
        sw.Stop();
        if (r.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {r}");
        return sw.Elapsed;
    }

    // ---- the report ----

    private (string Text, string Markdown) Report(Machine machine, string loadBefore, string loadAfter, ImageSet[] sets,
        List<Contender> contenders, List<Sample> samples, List<(Contender Agent, Overheads Costs)> overheads, List<TimeSpan> ctrVersion)
    {
        List<Sample> Of(ImageSet set, Contender c) => samples.Where(s => s.Set == set && s.Contender == c).ToList();
        List<TimeSpan> Times(ImageSet set, Contender c) => Of(set, c).Select(s => s.Elapsed).ToList();
        // Each round runs every way back to back: the ratio within a round cancels slow drifts in the machine's load.
        string Paired(ImageSet set, Contender c)
        {
            var ratios = Of(set, c).Join(Of(set, CtrParallel), s => s.Repetition, s => s.Repetition, (a, b) => a.Elapsed / b.Elapsed)
                .OrderBy(r => r).ToList();
            if (ratios.Count == 0) return "-";
            var mid = ratios.Count / 2;
            var median = ratios.Count % 2 == 1 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
            return median.ToString("0.00'×'", CultureInfo.InvariantCulture);
        }
        var primary = contenders[0];

        var summary = new Table("image set", "NodeFleet", $"ctr ×{Parallelism}", "ratio", "ratio of minima", "ratio, paired per round");
        foreach (var set in sets)
        {
            var nf = Times(set, primary);
            var ctr = Times(set, CtrParallel);
            summary.Add(set.Name, Stats.MedianMin(nf), Stats.MedianMin(ctr), Stats.Ratio(Stats.Median(nf), Stats.Median(ctr)),
                Stats.Ratio(Stats.Min(nf), Stats.Min(ctr)), Paired(set, primary));
        }

        var detail = new Table("image set", "way", "wall median (min)", $"÷ ctr ×{Parallelism}", "paired", "CPU of the tool",
            "CPU of containerd", "fetched from the mirror") { TextColumns = 2 };
        foreach (var set in sets)
        {
            foreach (var c in contenders)
            {
                var of = Of(set, c);
                detail.Add(set.ShortName, c.Label, Stats.MedianMin(Times(set, c)),
                    Stats.Ratio(Stats.Median(Times(set, c)), Stats.Median(Times(set, CtrParallel))), Paired(set, c),
                    of.All(s => s.Cpu is not null) ? Stats.Format(Stats.Median(of.Select(s => s.Cpu!.Value))) : "(in the bench)",
                    Stats.Format(Stats.Median(of.Select(s => s.RuntimeCpu))),
                    Stats.MiB(of.Select(s => s.FetchedBytes).DefaultIfEmpty().Max()));
            }
        }

        var breakdown = new Table(["image set", "agent", .. AgentBreakdown.Names, "sum", "total"]) { TextColumns = 2 };
        foreach (var set in sets)
        {
            foreach (var c in contenders.Where(c => c.Kind == Kind.Agent))
            {
                var b = Of(set, c).Where(s => s.Breakdown is not null).Select(s => s.Breakdown!).ToList();
                if (b.Count == 0) continue;
                var medians = Enumerable.Range(0, AgentBreakdown.Names.Length).Select(i => Stats.Median(b.Select(x => x.Values[i]))).ToList();
                breakdown.Add([set.ShortName, c.Label, .. medians.Select(Stats.Format),
                    Stats.Format(medians.Aggregate(TimeSpan.Zero, (x, y) => x + y)), Stats.Format(Stats.Median(Times(set, c)))]);
            }
        }

        var costs = new Table("what", "median (min)");
        foreach (var (a, o) in overheads)
        {
            var suffix = a == primary ? "" : $" [{a.Label[(PrimaryLabel.Length + 2)..^1]}]";
            costs.Add($"`nodefleet-agent --version`{suffix}: process start and exit", Stats.MedianMin(o.Version));
            costs.Add($"`nodefleet-agent apply`{suffix}, every phase skipped: start, plan, journal, no runtime call", Stats.MedianMin(o.ApplyNothing));
        }
        costs.Add("`ctr --version`: process start and exit", Stats.MedianMin(ctrVersion));
        var cri = contenders.Single(c => c.Kind == Kind.CriInProcess);
        foreach (var set in sets)
        {
            costs.Add($"{set.References.Count} CRI ImageStatus one after the other, warm connection, images absent",
                Stats.MedianMin(Of(set, cri).Select(s => s.StatusAbsent!.Value).ToList()));
            costs.Add($"{set.References.Count} CRI ImageStatus one after the other, warm connection, images present",
                Stats.MedianMin(Of(set, cri).Select(s => s.StatusPresent!.Value).ToList()));
        }

        var verdicts = sets.Select(set =>
        {
            var ratio = Stats.Median(Times(set, primary)) / Stats.Median(Times(set, CtrParallel));
            return string.Create(CultureInfo.InvariantCulture,
                $"{set.Name}: NodeFleet ÷ ctr ×{Parallelism} = {ratio:0.00}× (target ≤ {Target:0.00}×: {(ratio <= Target ? "met" : "NOT met")})");
        }).ToList();

        var about = $"{options.Repeat} measured runs per cell after {options.Warmup} warm-up {(options.Warmup == 1 ? "round" : "rounds")}; median (minimum). Every run " +
                    $"pulls into a fresh containerd root (nothing cached) from the same local registry through a {Upstream} mirror " +
                    $"entry. Load average (1, 5, 15 min): {loadBefore} at the start, {loadAfter} at the end.";

        var text = new StringBuilder();
        text.AppendLine("Image pre-pull, wall-clock time");
        text.AppendLine(about);
        text.AppendLine();
        text.AppendLine(summary.ToText());
        foreach (var v in verdicts) text.AppendLine(v);
        text.AppendLine();
        text.AppendLine("Every way");
        text.AppendLine(detail.ToText());
        text.AppendLine("Where the agent's time goes (medians; from its JSON log timestamps, see BENCHMARKS.md)");
        text.AppendLine(breakdown.ToText());
        text.AppendLine("Fixed costs");
        text.AppendLine(costs.ToText());
        text.AppendLine("Machine");
        foreach (var l in machine.Lines()) text.AppendLine("  " + l);

        var md = new StringBuilder();
        md.AppendLine("```text");
        foreach (var l in machine.Lines()) md.AppendLine(l);
        md.AppendLine("```");
        md.AppendLine();
        md.AppendLine(about);
        md.AppendLine();
        md.AppendLine(summary.ToMarkdown());
        foreach (var v in verdicts) md.AppendLine($"- {v}");
        md.AppendLine();
        md.AppendLine("Every way:");
        md.AppendLine();
        md.AppendLine(detail.ToMarkdown());
        md.AppendLine("Where the agent's time goes (medians):");
        md.AppendLine();
        md.AppendLine(breakdown.ToMarkdown());
        md.AppendLine("Fixed costs:");
        md.AppendLine();
        md.AppendLine(costs.ToMarkdown());
        return (text.ToString(), md.ToString());
    }
}
