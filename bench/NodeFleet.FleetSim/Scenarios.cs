using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Protocol.V1;

namespace NodeFleet.FleetSim;

/// <summary>The six scenarios of issue 7 on one simulated fleet; each records figures (timings) and checks (correctness).</summary>
public sealed class Scenarios(Options options, SimFleet fleet, Results results, TextWriter output)
{
    private CoordinatorProcess Coordinator => fleet.Coordinator;
    private int N => fleet.Agents.Count;
    /// <summary>The issue's targets are stated at 10,000 nodes; below that a figure is shown without a verdict.</summary>
    private bool AtScale => N >= 10_000;
    private int _rollouts;
    /// <summary>Rollouts started since the coordinator process last started.</summary>
    private int _sinceStart;

    private static string Target(string target, bool atScale) => atScale ? target : "";
    private static bool? Met(bool met, bool atScale) => atScale ? met : null;

    // ---------------------------------------------------------------------------------------------------------- 1
    public async Task ConnectedAsync(TimeSpan connectTime)
    {
        const string s = "connected";
        results.Figure(s, $"time to connect {N} agents (started {options.StartRate}/s)", connectTime.TotalSeconds, "s");
        await Task.Delay(TimeSpan.FromSeconds(options.SettleSeconds));
        // The period the coordinator has moved the agents to for a fleet of this size (maxHeartbeatRate).
        var period = (await Coordinator.MetricsAsync()).GetValueOrDefault("nodefleet_heartbeat_period_seconds");
        var pid = Coordinator.Pid;
        var simPid = Environment.ProcessId;
        var cpu0 = ProcStats.Cpu(pid);
        var simCpu0 = ProcStats.Cpu(simPid);
        var others = fleet.Coordinators.Where(c => c.Running).Select(c => (c, ProcStats.Cpu(c.Pid))).ToList();
        var pgPid = fleet.Postgres?.Pid ?? 0;
        var pgCpu0 = pgPid > 0 ? ProcStats.TreeCpu(pgPid) : TimeSpan.Zero;
        var sw = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(options.IdleSeconds));
        if (fleet.Coordinators.Count > 1)
        {
            await SeveralConnectedAsync(s, others, sw.Elapsed, period, pgPid, pgCpu0, simCpu0);
            return;
        }
        var cpu = (ProcStats.Cpu(pid) - cpu0).TotalSeconds / sw.Elapsed.TotalSeconds * 100;
        var simCpu = (ProcStats.Cpu(simPid) - simCpu0).TotalSeconds / sw.Elapsed.TotalSeconds * 100;
        var rss = ProcStats.RssMiB(pid);
        results.Figure(s, $"coordinator RSS with {N} agents online (VmRSS)", rss, "MiB", Target("< 600 MiB", AtScale), Met(rss < 600, AtScale));
        results.Figure(s, $"coordinator idle CPU over {options.IdleSeconds} s (utime+stime, % of one core), heartbeat period {period:0.#}s (heartbeatInterval {options.Heartbeat})",
            cpu, "%", Target("< 5 %", AtScale), Met(cpu < 5, AtScale));
        results.Figure(s, $"same, as a share of the whole machine ({Environment.ProcessorCount} CPUs)", cpu / Environment.ProcessorCount, "%");
        results.Figure(s, "coordinator peak RSS (VmHWM)", ProcStats.PeakRssMiB(pid), "MiB");
        results.Figure(s, "coordinator threads", ProcStats.Threads(pid), "");
        results.Figure(s, $"simulator process RSS ({N} agents)", ProcStats.RssMiB(simPid), "MiB");
        results.Figure(s, "simulator CPU in the same window (% of one core)", simCpu, "%");
        results.Figure(s, "simulator open files", Limits.OpenFileCount(), "");
        if (pgPid > 0) results.Figure(s, "PostgreSQL CPU in the same window (postmaster and its backends, % of one core)",
            (ProcStats.TreeCpu(pgPid) - pgCpu0).TotalSeconds / sw.Elapsed.TotalSeconds * 100, "%");
        results.Note(s, $"load average during the window: {ProcStats.LoadAverage()}");
        // What a Prometheus scrape costs the coordinator at this size (process metrics count its open files, the fleet
        // gauges read every node's status and phase).
        var scrapeCpu0 = ProcStats.Cpu(pid);
        var scrapeWall = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) await Coordinator.MetricsAsync();
        results.Figure(s, "one /metrics scrape: coordinator CPU", (ProcStats.Cpu(pid) - scrapeCpu0).TotalMilliseconds / 5, "ms");
        results.Figure(s, "one /metrics scrape: response time", scrapeWall.Elapsed.TotalMilliseconds / 5, "ms");
        var m = await Coordinator.MetricsAsync();
        var connected = (int)m.GetValueOrDefault("nodefleet_connected_agents");
        var online = (int)m.GetValueOrDefault("nodefleet_nodes{status=\"online\"}");
        results.Check(s, "all agents online", connected >= N && online >= N && fleet.ConnectedCount() == N,
            $"coordinator: {connected} connected, {online} online; simulator: {fleet.ConnectedCount()} of {N} links connected");
    }

    /// <summary>`connected` with several coordinators on PostgreSQL: each one's agents, RSS and idle CPU, and the database's CPU.</summary>
    private async Task SeveralConnectedAsync(string s, List<(CoordinatorProcess C, TimeSpan Cpu0)> coordinators, TimeSpan window, double period,
        int pgPid, TimeSpan pgCpu0, TimeSpan simCpu0)
    {
        var simCpu = (ProcStats.Cpu(Environment.ProcessId) - simCpu0).TotalSeconds / window.TotalSeconds * 100;
        var pgCpu = pgPid > 0 ? (ProcStats.TreeCpu(pgPid) - pgCpu0).TotalSeconds / window.TotalSeconds * 100 : double.NaN;
        var k = coordinators.Count;
        var total = 0;
        for (var i = 0; i < k; i++)
        {
            var (c, cpu0) = coordinators[i];
            var cpu = (ProcStats.Cpu(c.Pid) - cpu0).TotalSeconds / window.TotalSeconds * 100;
            var agents = await c.ConnectedAgentsAsync();
            total += agents;
            var rss = ProcStats.RssMiB(c.Pid);
            var name = $"coordinator {i + 1} of {k} ({agents} agents)";
            results.Figure(s, $"{name}: RSS (VmRSS)", rss, "MiB");
            results.Figure(s, $"{name}: idle CPU over {options.IdleSeconds} s (% of one core), heartbeat period {period:0.#}s", cpu, "%");
            results.Figure(s, $"{name}: peak RSS (VmHWM)", ProcStats.PeakRssMiB(c.Pid), "MiB");
            results.Figure(s, $"{name}: threads", ProcStats.Threads(c.Pid), "");
        }
        if (pgPid > 0) results.Figure(s, $"PostgreSQL CPU in the same window (postmaster and its backends, % of one core)", pgCpu, "%");
        results.Figure(s, $"simulator process RSS ({N} agents)", ProcStats.RssMiB(Environment.ProcessId), "MiB");
        results.Figure(s, "simulator CPU in the same window (% of one core)", simCpu, "%");
        results.Note(s, $"{N} agents over {k} coordinators on one PostgreSQL (agent i joined coordinator i mod {k}, given all {k} addresses); " +
                        $"load average during the window: {ProcStats.LoadAverage()}");
        var m = await Coordinator.MetricsAsync();
        var online = (int)m.GetValueOrDefault("nodefleet_nodes{status=\"online\"}");
        var spread = coordinators.Select(c => c.C.ConnectedAgentsBlocking()).ToList();
        results.Check(s, "all agents online", total >= N && online >= N && fleet.ConnectedCount() == N,
            $"coordinators hold {total} streams ({string.Join(" + ", spread)}); the store: {online} online; simulator: {fleet.ConnectedCount()} of {N} links connected");
        results.Note(s, $"agent streams per coordinator: {string.Join(", ", spread)}");
    }

    // ---------------------------------------------------------------------------------------------------------- 2
    public async Task NoopRolloutAsync()
    {
        const string s = "noop-rollout";
        var name = $"fleetsim-noop-{++_rollouts}";
        var (final, wall, cpu) = await RolloutAsync(s, SimPlans.Noop(name), SimFleet.AgentLabel, ["all"]);
        var took = Took(final);
        results.Figure(s, $"time to all done, {final.Nodes.Count} nodes, full concurrency (coordinator: created → succeeded)", took, "s",
            Target("< 5 s", AtScale), Met(took < 5, AtScale));
        results.Figure(s, "same, as seen by the simulator (Start call → Succeeded seen)", wall.TotalSeconds, "s");
        results.Figure(s, "coordinator CPU during the rollout (CPU-seconds)", cpu.Coordinator, "s");
        results.Figure(s, "simulator CPU during the rollout (CPU-seconds; the agents' executors, journals and links)", cpu.Simulator, "s");
        CheckRollout(s, final, N);
        var bad = fleet.Agents.Where(a => a.LatestRun(name) is not { State: Agent.Execution.RunState.Succeeded }).Select(a => a.Name).ToList();
        results.Check(s, "every agent's journal has a succeeded run of the plan", bad.Count == 0, bad.Count == 0 ? "" : $"{bad.Count} not: {string.Join(", ", bad.Take(5))}");

        // The same plan again: applied everywhere already, so each agent only says so (no run, one report).
        var runsBefore = fleet.Agents.Sum(a => a.JournalRuns().Runs);
        var (again, againWall, againCpu) = await RolloutAsync(s, SimPlans.Noop(name), SimFleet.AgentLabel, ["all"]);
        var againTook = Took(again);
        results.Figure(s, $"the same plan again (already applied on every node): time to all done, {again.Nodes.Count} nodes", againTook, "s",
            Target("< 5 s", AtScale), Met(againTook < 5, AtScale));
        results.Figure(s, "same, as seen by the simulator", againWall.TotalSeconds, "s");
        results.Figure(s, "coordinator / simulator CPU-seconds for it", againCpu.Coordinator, "s");
        CheckRollout(s, again, N);
        var newRuns = fleet.Agents.Sum(a => a.JournalRuns().Runs) - runsBefore;
        results.Check(s, "the plan already applied started no run on any node", newRuns == 0, $"{newRuns} new runs");
    }

    // ---------------------------------------------------------------------------------------------------------- 3
    public async Task ConfigRolloutAsync()
    {
        const string s = "config-rollout";
        for (var g = 0; g < options.ConfigSizes.Length; g++)
        {
            var size = options.ConfigSizes[g];
            var group = fleet.Agents.Where((_, i) => fleet.GroupOf(i) == $"g{g}").ToList();
            if (group.Count != size)
            {
                results.Check(s, $"{size} nodes available", false, $"only {group.Count} agents (raise --agents)");
                continue;
            }
            // The first size runs twice: the coordinator's first rollout since it started (cold: its code paths not yet
            // compiled, when this scenario follows restart-storm) and again with a changed drop-in (warm).
            var runs = g == 0 ? 2 : 1;
            for (var run = 0; run < runs; run++)
            {
                var label = g == 0
                    ? run == 0 ? (_sinceStart == 0 ? "cold: the coordinator's first rollout since it started" : $"first ({_sinceStart} rollouts ran since the coordinator started)")
                      : "warm: again with a changed drop-in"
                    : "";
                await ConfigRunAsync(s, size, g, group, label, maxPods: 110 + run + g * 10, containerdChanged: run == 0);
            }
        }
    }

    private async Task ConfigRunAsync(string s, int size, int g, List<SimAgent> group, string label, int maxPods, bool containerdChanged)
    {
            var callsBefore = group.Sum(a => a.Services.CallCount);
            var name = $"fleetsim-config-{size}-{++_rollouts}";
            var (final, wall, cpu) = await RolloutAsync(s, SimPlans.Config(name, maxPods), $"simgroup=g{g}", []);
            var what = label.Length == 0 ? $"{size} nodes" : $"{size} nodes, {label}";
            var took = Took(final);
            results.Figure(s, $"time to all done, {what}, full concurrency (coordinator: created → succeeded)", took, "s",
                size == 50 ? "< 0.5 s" : "", size == 50 ? took < 0.5 : null);
            results.Figure(s, $"same for {what}, as seen by the simulator", wall.TotalSeconds, "s");
            results.Figure(s, $"coordinator CPU-seconds for {what}", cpu.Coordinator, "s");
            results.Figure(s, $"simulator CPU-seconds for {what}", cpu.Simulator, "s");
            CheckRollout(s, final, size);
            var wrong = group.Where(a => !File.Exists(a.Root.Path(SimPlans.DropIn)) || !File.Exists(a.Root.Path(SimPlans.HostsToml))
                                         || !File.ReadAllText(a.Root.Path(SimPlans.DropIn)).Contains($"max-pods={maxPods}", StringComparison.Ordinal)).ToList();
            results.Check(s, $"{what}: drop-in and hosts.toml written on every node", wrong.Count == 0, wrong.Count == 0 ? "" : $"{wrong.Count} missing, e.g. {wrong[0].Name}");
            // Only what changed is restarted: the warm run changes the drop-in alone, so containerd keeps running.
            string[] expected = containerdChanged ? ["daemon-reload", "restart containerd", "restart kubelet"] : ["daemon-reload", "restart kubelet"];
            var calls = group.Select(a => a.Services.Calls.Skip(a.Services.CallCount - expected.Length).ToList()).ToList();
            var recorded = group.Sum(a => a.Services.CallCount) - callsBefore;
            results.Check(s, $"{what}: {string.Join(", ", expected)} recorded on every node (the service manager records, never calls)",
                recorded == size * expected.Length && calls.All(c => c.SequenceEqual(expected)), $"{recorded} calls recorded for {size} nodes");
    }

    // ---------------------------------------------------------------------------------------------------------- 4
    public async Task ReportBurstAsync()
    {
        const string s = "report-burst";
        // Each sender on its own coordinator (sender i on coordinator i mod K): with two, half the burst on each.
        var live = fleet.Coordinators.Where(c => c.Running).ToList();
        const string Recorded = "nodefleet_reports_total{outcome=\"recorded\"}", Duplicate = "nodefleet_reports_total{outcome=\"duplicate\"}";
        var addresses = fleet.BurstIdentities.Select((_, i) => live[i % live.Count].Address).ToList();
        if (options.BurstWarmupSeconds > 0)
        {
            // The same streams' identities at a quarter of the rate first (or the rate given); measured apart, and
            // checked all acknowledged.
            var warmRate = options.BurstWarmupRate > 0 ? options.BurstWarmupRate : Math.Max(1, options.BurstRate / 4);
            var warm = await new ReportBurst(addresses, fleet.BurstIdentities, warmRate, TimeSpan.FromSeconds(options.BurstWarmupSeconds)).RunAsync(output);
            results.Note(s, $"warm-up before the measured burst: {warm.Sent} reports at {warmRate}/s over {options.BurstWarmupSeconds} s " +
                            $"(ack p99 {warm.P(0.99):0.0} ms), as a coordinator that has run a while has its code compiled");
            results.Check(s, "every warm-up report acknowledged", warm.Acked == warm.Sent, $"{warm.Acked} of {warm.Sent} acknowledged");
        }
        var before = new List<Dictionary<string, double>>();
        foreach (var c in live) before.Add(await c.MetricsAsync());
        var burst = new ReportBurst(addresses, fleet.BurstIdentities, options.BurstRate, TimeSpan.FromSeconds(options.BurstSeconds));
        var cpu0 = live.Select(c => ProcStats.Cpu(c.Pid)).ToList();
        var pgPid = fleet.Postgres?.Pid ?? 0;
        var pgCpu0 = pgPid > 0 ? ProcStats.TreeCpu(pgPid) : TimeSpan.Zero;
        var outcome = await burst.RunAsync(output);
        var cpus = live.Select((c, i) => (ProcStats.Cpu(c.Pid) - cpu0[i]).TotalSeconds).ToList();
        var cpu = cpus.Sum();
        var after = new List<Dictionary<string, double>>();
        foreach (var c in live) after.Add(await c.MetricsAsync());
        var recordedEach = live.Select((_, i) => after[i].GetValueOrDefault(Recorded) - before[i].GetValueOrDefault(Recorded)).ToList();
        var recorded = recordedEach.Sum();
        var duplicates = live.Select((_, i) => after[i].GetValueOrDefault(Duplicate) - before[i].GetValueOrDefault(Duplicate)).Sum();
        results.Note(s, $"synthetic sender: {fleet.BurstIdentities.Count} joined node identities, each its own mTLS channel and AgentLink.Connect stream " +
                        $"(hello, then step reports with increasing sequence numbers), {options.BurstRate}/s for {options.BurstSeconds} s, while {N} agents stay connected" +
                        (live.Count > 1 ? $"; the senders spread over {live.Count} coordinators on one PostgreSQL (sender i on coordinator i mod {live.Count})" : ""));
        if (live.Count > 1)
        {
            for (var i = 0; i < live.Count; i++)
            {
                results.Figure(s, $"coordinator {fleet.Coordinators.IndexOf(live[i]) + 1}: reports recorded", recordedEach[i], "");
                results.Figure(s, $"coordinator {fleet.Coordinators.IndexOf(live[i]) + 1}: CPU-seconds during the burst", cpus[i], "s");
            }
        }
        if (pgPid > 0) results.Figure(s, "PostgreSQL CPU-seconds during the burst (postmaster and its backends)", (ProcStats.TreeCpu(pgPid) - pgCpu0).TotalSeconds, "s");
        results.Figure(s, "reports sent", outcome.Sent, "");
        results.Figure(s, "achieved send rate", outcome.Sent / outcome.SendDuration.TotalSeconds, "reports/s");
        results.Figure(s, "ack latency p50 (send → ReportAck)", outcome.P(0.50), "ms");
        results.Figure(s, "ack latency p99", outcome.P(0.99), "ms", "< 100 ms", outcome.P(0.99) < 100);
        results.Figure(s, "ack latency max", outcome.P(1.0), "ms");
        results.Note(s, "ack latency p99 by second of the burst (ms): " +
                        string.Join(", ", outcome.P99BySecond.Select(v => v.ToString("0", CultureInfo.InvariantCulture))));
        results.Figure(s, live.Count > 1 ? "coordinators' CPU-seconds during the burst (all)" : "coordinator CPU-seconds during the burst", cpu, "s");
        var lost = outcome.Sent - (long)recorded;
        results.Figure(s, "reports lost (sent − recorded by the coordinator)", lost, "", "0", lost == 0);
        results.Check(s, "every report acknowledged", outcome.Acked == outcome.Sent, $"{outcome.Acked} of {outcome.Sent} acknowledged");
        results.Check(s, "0 lost: the coordinator recorded every report once", lost == 0 && duplicates == 0,
            $"recorded {recorded}, duplicates {duplicates}, sent {outcome.Sent}");
    }

    // ---------------------------------------------------------------------------------------------------------- 5
    public async Task RestartStormAsync()
    {
        const string s = "restart-storm";
        if (fleet.ConnectedCount() != N) await fleet.WaitAllConnectedAsync(TimeSpan.FromSeconds(options.StormTimeoutSeconds), Stopwatch.StartNew());
        if (fleet.Agents.Sum(a => a.JournalRuns().Runs) == 0)
        {
            // Give the journals something not to re-apply: a plan applied on the first nodes before the kill.
            var (warm, _, _) = await RolloutAsync(s, SimPlans.Noop($"fleetsim-storm-warmup-{++_rollouts}"), "simfirst=yes", ["all"]);
            results.Check(s, $"warm-up rollout on {warm.Nodes.Count} nodes succeeded", warm.State == RolloutState.Succeeded, warm.StateReason);
        }
        var runsBefore = fleet.Agents.Select(a => a.JournalRuns().Runs).ToArray();
        var callsBefore = fleet.Agents.Select(a => a.Services.CallCount).ToArray();
        var connectsBefore = fleet.Agents.Select(a => a.Connects).ToArray();
        results.Note(s, $"journals hold {runsBefore.Sum()} runs before the kill ({fleet.JournalMode.ToString().ToLowerInvariant()} journals)");

        var simCpu0 = ProcStats.Cpu(Environment.ProcessId);
        // With several coordinators, the first is killed and restarted; its agents may come back on it or on the others.
        var victim = Coordinator;
        var hit = Enumerable.Range(0, N).Where(i => fleet.Coordinators.Count == 1 || fleet.Agents[i].Address == victim.Address).ToArray();
        var m = hit.Length;
        if (fleet.Coordinators.Count > 1)
            results.Note(s, $"{fleet.Coordinators.Count} coordinators: the first ({victim.Address}) killed and restarted; {m} of the {N} agents' streams were on it");
        var sw = Stopwatch.StartNew();
        await victim.KillHardAsync();
        var killed = sw.Elapsed;
        if (fleet.Postgres is null)
            results.Note(s, "data directory at the kill: " + string.Join(", ", Directory.EnumerateFiles(victim.DataDir)
            .Select(f => new FileInfo(f)).Where(f => f.Name.EndsWith(".db", StringComparison.Ordinal))
            .Select(f => $"{f.Name} {f.Length / 1024.0 / 1024.0:0.0} MiB")));
        // Under a storm of 10,000 reconnections /readyz may answer late: the figure that counts is all agents back.
        var ready = await victim.StartAsync(TimeSpan.FromSeconds(options.StormTimeoutSeconds));
        _sinceStart = 0;
        var readyAt = sw.Elapsed;
        var coordinatorCpu0 = fleet.CoordinatorsCpu();
        output.WriteLine($"  coordinator killed (kill -9) and restarted; ready {ready.TotalSeconds:0.00}s after start");

        // Watched from a thread of its own (blocking calls): the agents' reconnections flood this process's thread pool.
        var agents = fleet.Agents;
        var allBack = await Task.Factory.StartNew<TimeSpan?>(() =>
        {
            var lastPrint = TimeSpan.Zero;
            while (true)
            {
                var back = 0;
                foreach (var i in hit)
                    if (agents[i].Connected && agents[i].Connects > connectsBefore[i]) back++;
                if (back == m && fleet.ConnectedAgentsBlocking() >= N) return sw.Elapsed;
                if (sw.Elapsed > TimeSpan.FromSeconds(options.StormTimeoutSeconds)) return null;
                if (sw.Elapsed - lastPrint > TimeSpan.FromSeconds(5))
                {
                    lastPrint = sw.Elapsed;
                    output.WriteLine($"  {back}/{m} back ({sw.Elapsed.TotalSeconds:0}s; coordinators count {fleet.ConnectedAgentsBlocking()})");
                }
                Thread.Sleep(50);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (allBack is null)
        {
            results.Check(s, "all agents back online", false, $"{fleet.ConnectedCount()} of {N} after {options.StormTimeoutSeconds} s");
            return;
        }
        var stormCpu = (fleet.CoordinatorsCpu() - coordinatorCpu0).TotalSeconds;
        var simCpu = (ProcStats.Cpu(Environment.ProcessId) - simCpu0).TotalSeconds;
        var back = allBack.Value;
        results.Figure(s, $"time from kill -9 until all {m} agents{(m < N ? " of the killed coordinator" : "")} are back online", (back - killed).TotalSeconds, "s",
            Target("< 60 s", AtScale), Met((back - killed).TotalSeconds < 60, AtScale));
        results.Figure(s, "coordinator restart to ready (/readyz)", ready.TotalSeconds, "s");
        results.Figure(s, "coordinator ready → all back", (back - readyAt).TotalSeconds, "s");
        results.Figure(s, "coordinator CPU-seconds from ready to all back (TLS handshakes, hellos, online writes)", stormCpu, "s");
        results.Figure(s, "coordinator CPU per reconnection", stormCpu / m * 1000, "ms");
        results.Figure(s, "simulator CPU-seconds from the kill to all back (the agents' retries and client handshakes)", simCpu, "s");
        var reconnects = hit.Select(i => agents[i].Connects - connectsBefore[i]).ToList();
        results.Figure(s, "streams established per agent to get back (mean)", reconnects.Average(), "");

        // Anything the restarted coordinator would re-send (rollout requests) has had time to arrive and run.
        await Task.Delay(TimeSpan.FromSeconds(options.Quick ? 3 : 10));
        var runsAfter = fleet.Agents.Select(a => a.JournalRuns().Runs).ToArray();
        var callsAfter = fleet.Agents.Select(a => a.Services.CallCount).ToArray();
        var newRuns = runsAfter.Zip(runsBefore, (x, y) => x - y).Sum();
        var newCalls = callsAfter.Zip(callsBefore, (x, y) => x - y).Sum();
        var metrics = await victim.MetricsAsync();
        var recordedSince = metrics.GetValueOrDefault("nodefleet_reports_total{outcome=\"recorded\"}");
        var connectedNow = await fleet.ConnectedAgentsAsync();
        results.Figure(s, "steps re-applied (new journal runs + new service-manager calls on the agents)", newRuns + newCalls, "", "0", newRuns + newCalls == 0);
        results.Figure(s, "reports recorded by the restarted coordinator", recordedSince, "");
        results.Check(s, "all agents back online", connectedNow >= N
            && (int)metrics.GetValueOrDefault("nodefleet_nodes{status=\"online\"}") >= N,
            $"{connectedNow} connected, {metrics.GetValueOrDefault("nodefleet_nodes{status=\"online\"}")} online");
        results.Check(s, "0 steps re-applied", newRuns == 0 && newCalls == 0, $"{newRuns} new runs, {newCalls} new service calls");
    }

    // ---------------------------------------------------------------------------------------------------------- 6
    public async Task AgentFootprintAsync()
    {
        const string s = "agent-footprint";
        var binaries = new List<(string Label, string Path)> { ($"JIT ({Binaries.Configuration} build)", options.Agent ?? Binaries.Agent) };
        // Quick mode (CI) measures nothing and must not depend on whatever packaging left in dist/.
        var aot = options.AotAgent ?? (options.Quick ? null : FindAotAgent());
        if (aot is not null)
        {
            binaries.Add(("AOT", aot));
            results.Note(s, $"AOT agent: {aot} ({new FileInfo(aot).Length / 1024.0 / 1024.0:0.0} MiB, built {File.GetLastWriteTimeUtc(aot):yyyy-MM-dd HH:mm} UTC)");
        }
        else results.Note(s, "no AOT agent found (packaging/ or dist/, or --aot-agent PATH): the < 30 MiB target is for the AOT build");
        foreach (var (label, path) in binaries)
        {
            try { await FootprintAsync(s, label, path); }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or TimeoutException or IOException or InvalidOperationException)
            {
                results.Check(s, $"{label}: measured", false, $"{path}: {e.Message}");
            }
        }
    }

    private async Task FootprintAsync(string s, string label, string path)
    {
        {
            var root = Path.Combine(fleet.WorkDir, "footprint-" + (label.StartsWith("AOT", StringComparison.Ordinal) ? "aot" : "jit"));
            var name = "footprint-" + (label.StartsWith("AOT", StringComparison.Ordinal) ? "aot" : "jit");
            var join = await Proc.RunAsync(path, ["--root", root, "join", "--token", fleet.Token, "--ca-cert-hash", fleet.CaHash,
                "--node-name", name, Coordinator.Address]);
            if (!results.Check(s, $"{label}: joined", join.ExitCode == 0, join.ExitCode == 0 ? path : join.ToString())) return;
            var starts = new List<double>();
            BackgroundProc? agent = null;
            for (var i = 0; i < options.FootprintStarts; i++)
            {
                if (agent is not null)
                {
                    Proc.Signal(agent.Pid, 15);
                    await agent.WaitForExitAsync(TimeSpan.FromSeconds(20));
                    await agent.DisposeAsync();
                }
                var sw = Stopwatch.StartNew();
                agent = Proc.Start(path, ["--root", root, "run"]);
                await agent.WaitForOutputAsync("Connected to the coordinator", TimeSpan.FromSeconds(60));
                starts.Add(sw.Elapsed.TotalMilliseconds);
            }
            await Task.Delay(TimeSpan.FromSeconds(options.Quick ? 1 : 5));
            var cpu0 = ProcStats.Cpu(agent!.Pid);
            var window = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(options.FootprintSeconds));
            var cpu = (ProcStats.Cpu(agent.Pid) - cpu0).TotalSeconds / window.Elapsed.TotalSeconds * 100;
            var rss = ProcStats.RssMiB(agent.Pid);
            var isAot = label.StartsWith("AOT", StringComparison.Ordinal);
            starts.Sort();
            var median = starts[starts.Count / 2];
            results.Figure(s, $"{label}: start-to-connected, median of {starts.Count} (exec → 'Connected' log line)", median, "ms",
                isAot ? "< 300 ms" : "", isAot ? median < 300 : null);
            results.Figure(s, $"{label}: start-to-connected, fastest", starts[0], "ms");
            results.Figure(s, $"{label}: RSS idle (VmRSS)", rss, "MiB", isAot ? "< 30 MiB" : "", isAot ? rss < 30 : null);
            results.Figure(s, $"{label}: peak RSS (VmHWM)", ProcStats.PeakRssMiB(agent.Pid), "MiB");
            results.Figure(s, $"{label}: CPU over {options.FootprintSeconds} s idle, heartbeat {options.Heartbeat} (% of one core)", cpu, "%", "< 0.5 %", cpu < 0.5);
            results.Check(s, $"{label}: stayed connected", !agent.HasExited && !agent.Output.Contains("Disconnected", StringComparison.Ordinal), "");
            await agent.DisposeAsync();
        }
    }

    /// <summary>
    /// The Native AOT agent packaging/build.sh produced (its .deb staging tree under dist/, else any nodefleet-agent under
    /// dist/ or packaging/ with no managed nodefleet-agent.dll beside it and too small to be a single-file bundle).
    /// </summary>
    private static string? FindAotAgent()
    {
        foreach (var dir in new[] { "dist", "packaging" }.Select(d => Path.Combine(Binaries.RepoRoot, d)).Where(Directory.Exists))
        {
            var candidates = Directory.EnumerateFiles(dir, "nodefleet-agent", SearchOption.AllDirectories)
                .Where(f => !File.Exists(Path.Combine(Path.GetDirectoryName(f)!, "nodefleet-agent.dll")) && IsElfExecutable(f))
                // Only executables: the packages' trees also hold files of that name (lintian overrides, docs).
                .Where(f => (File.GetUnixFileMode(f) & UnixFileMode.UserExecute) != 0)
                .Where(f => new FileInfo(f).Length < 50L * 1024 * 1024)
                .OrderByDescending(f => f.Contains("/deb/", StringComparison.Ordinal))
                .ThenByDescending(File.GetLastWriteTimeUtc);
            if (candidates.FirstOrDefault() is { } found) return found;
        }
        return null;
    }

    private static bool IsElfExecutable(string path)
    {
        if ((File.GetUnixFileMode(path) & UnixFileMode.UserExecute) == 0) return false;
        Span<byte> magic = stackalloc byte[4];
        using var f = File.OpenRead(path);
        return f.Read(magic) == 4 && magic.SequenceEqual((ReadOnlySpan<byte>)[0x7f, (byte)'E', (byte)'L', (byte)'F']);
    }

    // ---------------------------------------------------------------------------------------------------------- 7
    /// <summary>
    /// Several coordinators on PostgreSQL: a rollout in waves (5 % of the nodes each), the lease holder killed with
    /// SIGKILL once --failover-at % of the nodes have succeeded. Times from the kill, each read from the coordinators' own
    /// logs and the simulated agents' links on a thread of its own: another coordinator holds the lease, the rollout
    /// progresses again (a node succeeds), the killed coordinator's agents are back on the others, the rollout is done.
    /// </summary>
    public async Task FailoverAsync()
    {
        const string s = "failover";
        var leaseTtl = options.LeaseTtl ?? "15s (the default)";
        var live = fleet.Coordinators.Where(c => c.Running).ToList();
        if (!results.Check(s, "at least two coordinators running", live.Count >= 2, $"{live.Count} running")) return;
        // The holder, from the store's registry (each coordinator's record, rewritten every 2 s).
        CoordinatorProcess? holder = null;
        var look = Stopwatch.StartNew();
        while (holder is null && look.Elapsed < TimeSpan.FromSeconds(60))
        {
            var list = await live[0].Registry.ListAsync(new ListCoordinatorsRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
            var held = list.Coordinators.Where(c => c.Alive && c.LeaseHeld).Select(c => c.Address).ToHashSet();
            holder = live.FirstOrDefault(c => held.Contains(c.Address));
            if (holder is null) await Task.Delay(500);
        }
        if (!results.Check(s, "a coordinator holds the singleton lease", holder is not null, holder is null ? "none after 60 s" : holder.Address)) return;
        var victim = holder!;
        var survivors = live.Where(c => c != victim).ToList();
        var admin = survivors[0];
        var onHolder = Enumerable.Range(0, N).Where(i => fleet.Agents[i].Address == victim.Address).ToList();
        var wave = Math.Max(1, N / 20);
        var name = $"fleetsim-failover-{++_rollouts}";
        var request = new StartRolloutRequest
        {
            Plan = SimPlans.Noop(name),
            Selector = SimFleet.AgentLabel,
            Strategy = new RolloutStrategy { Canary = 0, MaxUnavailable = wave.ToString(CultureInfo.InvariantCulture), MaxFailures = "1", NoPrepareAhead = true },
        };
        request.IgnorePreflightErrors.Add("all");
        results.Note(s, $"{live.Count} coordinators on one PostgreSQL, lease TTL {leaseTtl}; the lease holder {victim.Address} holds {onHolder.Count} of the {N} agents' streams; " +
                        $"a no-op plan rolled out {wave} nodes at a time (about {(N + wave - 1) / wave} waves), started through {admin.Address}; " +
                        $"the holder killed (kill -9) once {options.FailoverAtPercent} % of the nodes succeeded");

        var followers = live.ToDictionary(c => c, c => new CoordinatorLogFollower(c.LogFile));
        using var closeLogs = new Disposables(followers.Values);
        var sw = Stopwatch.StartNew();
        var started = await AdminAsync(() => admin.Rollouts.StartAsync(request, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync, sw);
        var total = started.Nodes.Count;
        output.WriteLine($"  rollout {started.Id}: {total} nodes, {started.WaveCount} wave(s)");
        var killAt = (int)Math.Ceiling(total * options.FailoverAtPercent / 100.0);
        var connectsBefore = fleet.Agents.Select(a => a.Connects).ToArray();
        var agents = fleet.Agents;

        var t = await Task.Factory.StartNew(() =>
        {
            var id = $"\"Rollout\":\"{started.Id}\"";
            int succeeded = 0, atKill = -1;
            TimeSpan? killed = null, lease = null, progressing = null, back = null, done = null;
            var lastPrint = TimeSpan.Zero;
            var ended = "";
            void Read(CoordinatorProcess c)
            {
                foreach (var line in followers[c].NewLines())
                {
                    if (killed is not null && c != victim && lease is null && line.Contains("holds the singleton lease", StringComparison.Ordinal)) lease = sw.Elapsed;
                    if (!line.Contains(id, StringComparison.Ordinal)) continue;
                    if (line.Contains("\"Reason\":\"NodeSucceeded\"", StringComparison.Ordinal))
                    {
                        succeeded++;
                        if (killed is not null && progressing is null) progressing = sw.Elapsed;
                    }
                    else if (line.Contains("\"Reason\":\"RolloutSucceeded\"", StringComparison.Ordinal)) ended = "succeeded";
                    else if (line.Contains("\"Reason\":\"RolloutFailed\"", StringComparison.Ordinal)) ended = "failed";
                    else if (line.Contains("\"Reason\":\"RolloutPaused\"", StringComparison.Ordinal)) ended = "paused";
                }
            }
            while (sw.Elapsed < TimeSpan.FromSeconds(options.RolloutTimeoutSeconds))
            {
                foreach (var c in live.Where(c => killed is null || c != victim)) Read(c);
                if (ended.Length > 0 && done is null) done = sw.Elapsed;
                if (killed is null && succeeded >= killAt && ended.Length == 0)
                {
                    victim.KillHardAsync().GetAwaiter().GetResult();
                    killed = sw.Elapsed;
                    // What the holder logged before it died counts as before the kill.
                    Read(victim);
                    atKill = succeeded;
                    output.WriteLine($"  lease holder {victim.Address} killed (kill -9) at {succeeded}/{total} succeeded ({sw.Elapsed.TotalSeconds:0.0}s)");
                }
                if (killed is not null && back is null
                    && onHolder.All(i => agents[i].Connected && agents[i].Connects > connectsBefore[i] && agents[i].Address != victim.Address))
                    back = sw.Elapsed;
                if (done is not null && (killed is null || back is not null)) break;
                if (sw.Elapsed - lastPrint > TimeSpan.FromSeconds(5))
                {
                    lastPrint = sw.Elapsed;
                    var moved = killed is null ? 0 : onHolder.Count(i => agents[i].Connected && agents[i].Connects > connectsBefore[i]);
                    output.WriteLine($"  {succeeded}/{total} succeeded; {(killed is null ? "holder running" : $"{moved}/{onHolder.Count} of its agents back")} ({sw.Elapsed.TotalSeconds:0}s)");
                }
                Thread.Sleep(50);
            }
            return (Killed: killed, AtKill: atKill, Lease: lease, Progressing: progressing, Back: back, Done: done, Ended: ended);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        // The final state, through a coordinator that lived.
        Rollout final;
        while (true)
        {
            final = await AdminAsync(() => admin.Rollouts.GetAsync(new GetRolloutRequest { Id = started.Id }, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync, sw);
            if (final.State is RolloutState.Succeeded or RolloutState.Failed or RolloutState.Aborted or RolloutState.RolledBack or RolloutState.Paused
                || sw.Elapsed > TimeSpan.FromSeconds(options.RolloutTimeoutSeconds)) break;
            await Task.Delay(200);
        }
        if (!results.Check(s, "the lease holder was killed mid-rollout", t.Killed is not null,
                t.Killed is null ? $"the rollout ended ({t.Ended}) before {killAt} nodes had succeeded" : $"at {t.AtKill} of {total} nodes succeeded")) return;
        var killedAt = t.Killed!.Value;
        double Since(TimeSpan? at) => at is null ? double.NaN : (at.Value - killedAt).TotalSeconds;
        results.Figure(s, $"nodes succeeded when the lease holder was killed (of {total})", t.AtKill, "");
        results.Figure(s, $"kill -9 of the lease holder → another coordinator holds the lease (its log), lease TTL {leaseTtl}", Since(t.Lease), "s");
        var progressing = Since(t.Progressing);
        var atDefault = options.LeaseTtl is null;
        results.Figure(s, "kill → the rollout progressing again (the next node succeeded)", progressing, "s",
            Target("< 20 s", atDefault), Met(progressing < 20, atDefault));
        results.Figure(s, $"kill → all {onHolder.Count} agents of the killed coordinator back online on the others", Since(t.Back), "s");
        results.Figure(s, "kill → the rollout done", Since(t.Done), "s");
        results.Figure(s, $"the rollout of {total} nodes, start → done (coordinators: created → succeeded)", Took(final), "s");
        results.Note(s, $"load average at the end: {ProcStats.LoadAverage()}");
        CheckRollout(s, final, N);
        var runs = fleet.Agents.Select(a => a.RunsOf(name)).ToList();
        results.Check(s, "every node ran the plan once (one run in each agent's journal)", runs.All(r => r == 1),
            $"{runs.Count(r => r == 1)} once, {runs.Count(r => r == 0)} never, {runs.Count(r => r > 1)} more than once");
        results.Check(s, "the killed coordinator's agents are back online on the others", t.Back is not null,
            $"{onHolder.Count(i => agents[i].Connected && agents[i].Address != victim.Address)} of {onHolder.Count}");
        var connected = await fleet.ConnectedAgentsAsync();
        results.Check(s, "every agent online on the coordinators that lived", connected >= N, $"{connected} streams held");
        // Nothing for a node left behind: every outbox row delivered and acknowledged (the last acknowledgements may lag).
        long outbox = -1;
        if (fleet.Postgres is { } pg)
        {
            for (var i = 0; i < 60 && (outbox = await pg.CountAsync("SELECT count(*) FROM outbox")) > 0; i++) await Task.Delay(500);
            results.Check(s, "no message for a node lost or left behind (outbox empty)", outbox == 0, $"{outbox} rows left");
        }

        // The killed coordinator back, for the scenarios after this one (its agents stay where they are).
        var ready = await victim.StartAsync();
        output.WriteLine($"  killed coordinator restarted, ready in {ready.TotalSeconds:0.00}s");
    }

    // ---------------------------------------------------------------------------------------------------------- helpers
    private async Task<(Rollout Final, TimeSpan Wall, (double Coordinator, double Simulator) Cpu)> RolloutAsync(
        string scenario, NodePlan plan, string selector, string[] ignore)
    {
        var request = new StartRolloutRequest
        {
            Plan = plan,
            Selector = selector,
            Strategy = new RolloutStrategy { Canary = 0, MaxUnavailable = "100%", MaxFailures = "1", NoPrepareAhead = true },
        };
        request.IgnorePreflightErrors.AddRange(ignore);
        var cpu0 = fleet.CoordinatorsCpu();
        var sim0 = ProcStats.Cpu(Environment.ProcessId);
        var connects0 = fleet.Agents.Sum(a => a.Connects);
        // Opened before the start, so that not even the first line about the rollout is missed; every coordinator's (the
        // lease holder runs the rollout).
        var logs = fleet.Coordinators.Where(c => c.Running).Select(c => new CoordinatorLogFollower(c.LogFile)).ToList();
        using var closeLogs = new Disposables(logs);
        var sw = Stopwatch.StartNew();
        _sinceStart++;
        var started = await AdminAsync(() => Coordinator.Rollouts.StartAsync(request, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync, sw);
        output.WriteLine($"  rollout {started.Id}: {started.Nodes.Count} nodes, {started.WaveCount} wave(s)");
        var total = started.Nodes.Count;

        // Progress from the coordinator's own log (its rollout events, one JSON line each), followed from a thread of its
        // own: it costs the coordinator nothing (a /metrics scrape costs it ~0.2 CPU-seconds at 10,000 nodes), and while
        // thousands of simulated agents execute at once this process's thread pool (and so its gRPC admin channel) can
        // lag by many seconds, which must not be counted as the rollout's time.
        var done = await Task.Factory.StartNew(() =>
        {
            var id = $"\"Rollout\":\"{started.Id}\"";
            int succeeded = 0, failed = 0;
            var lastPrint = TimeSpan.Zero;
            while (sw.Elapsed < TimeSpan.FromSeconds(options.RolloutTimeoutSeconds))
            {
                foreach (var line in logs.SelectMany(l => l.NewLines()))
                {
                    if (!line.Contains(id, StringComparison.Ordinal)) continue;
                    if (line.Contains("\"Reason\":\"NodeSucceeded\"", StringComparison.Ordinal)) succeeded++;
                    else if (line.Contains("\"Reason\":\"NodeFailed\"", StringComparison.Ordinal)) failed++;
                    else if (line.Contains("\"Reason\":\"RolloutSucceeded\"", StringComparison.Ordinal)
                             || line.Contains("\"Reason\":\"RolloutFailed\"", StringComparison.Ordinal)
                             || line.Contains("\"Reason\":\"RolloutPaused\"", StringComparison.Ordinal)) return sw.Elapsed;
                }
                if (sw.Elapsed - lastPrint > TimeSpan.FromSeconds(5))
                {
                    lastPrint = sw.Elapsed;
                    output.WriteLine($"  {succeeded} succeeded, {failed} failed of {total} ({sw.Elapsed.TotalSeconds:0}s)");
                }
                Thread.Sleep(100);
            }
            return sw.Elapsed;
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var cpu = ((fleet.CoordinatorsCpu() - cpu0).TotalSeconds, (ProcStats.Cpu(Environment.ProcessId) - sim0).TotalSeconds);

        // The last pass may still be turning the last node's success into the rollout's: wait for the final state.
        while (true)
        {
            var r = await AdminAsync(() => Coordinator.Rollouts.GetAsync(new GetRolloutRequest { Id = started.Id }, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync, sw);
            if (r.State is RolloutState.Succeeded or RolloutState.Failed or RolloutState.Aborted or RolloutState.RolledBack or RolloutState.Paused
                || sw.Elapsed > TimeSpan.FromSeconds(options.RolloutTimeoutSeconds))
            {
                var reconnects = fleet.Agents.Sum(a => a.Connects) - connects0;
                if (reconnects > 0)
                    results.Note(scenario, $"{reconnects} simulated agents' streams were re-established during the rollout of {total} " +
                                           "(the simulator's CPU, shared by every agent, starved their links; see agents.log)");
                return (r, done, cpu);
            }
            await Task.Delay(200);
        }
    }

    /// <summary>An operator API call, asked again while this busy process's own channel times out.</summary>
    private async Task<T> AdminAsync<T>(Func<Task<T>> call, Stopwatch sw)
    {
        while (true)
        {
            try { return await call(); }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.DeadlineExceeded or StatusCode.Cancelled
                                         && sw.Elapsed < TimeSpan.FromSeconds(options.RolloutTimeoutSeconds))
            {
                output.WriteLine($"  (operator API call not answered in time here: {e.StatusCode}; asking again)");
                await Task.Delay(500);
            }
        }
    }

    private static double Took(Rollout r) => (r.UpdatedAt.ToDateTime() - r.CreatedAt.ToDateTime()).TotalSeconds;

    private void CheckRollout(string s, Rollout final, int expected)
    {
        var succeeded = final.Nodes.Count(n => n.State == RolloutNodeState.Succeeded);
        var failed = final.Nodes.Where(n => n.State != RolloutNodeState.Succeeded).Take(3).Select(n => $"{n.Name} {n.State} {n.Message}");
        results.Check(s, $"rollout of {expected} nodes succeeded", final.State == RolloutState.Succeeded && succeeded == expected && final.Nodes.Count == expected,
            $"{final.State} {final.StateReason}; {succeeded}/{final.Nodes.Count} nodes succeeded{(succeeded < final.Nodes.Count ? "; e.g. " + string.Join("; ", failed) : "")}");
    }
}
