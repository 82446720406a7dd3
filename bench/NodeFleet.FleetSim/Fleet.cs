using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Agent.Execution;
using NodeFleet.Protocol.V1;

namespace NodeFleet.FleetSim;

/// <summary>The simulated fleet: the coordinator process, N agents in this process, and the burst senders' identities.</summary>
public sealed class SimFleet : IAsyncDisposable
{
    public const string AgentLabel = "fleetsim=agent";
    public const string BurstLabel = "fleetsim=burst";

    private readonly Options _options;
    private readonly TextWriter _out;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(5) };

    public SimFleet(Options options, string workDir, string rootsDir, TextWriter output)
    {
        _options = options;
        _out = output;
        WorkDir = workDir;
        RootsDir = rootsDir;
        Coordinator = new CoordinatorProcess(options.Coordinator ?? IntegrationTests.Infrastructure.Binaries.Coordinator,
            Path.Combine(workDir, "coordinator"), Path.Combine(workDir, "coordinator.log"), options.Heartbeat, options.CoordinatorNice,
            [.. SharedSourceLimits(options), .. options.CoordinatorEnv], options.CoordinatorCpus);
        Log = new AgentLogSink(Path.Combine(workDir, "agents.log")) { Verbose = options.Verbose };
    }

    /// <summary>
    /// Every simulated agent connects from 127.0.0.1, where a fleet's agents each have an address of their own: the
    /// coordinator's per-source bounds (silent connections, handshakes at once), meant for one misbehaving address, are
    /// lifted to what the whole simulated fleet needs; --coordinator-env can still set them.
    /// </summary>
    private static IEnumerable<string> SharedSourceLimits(Options o) =>
    [
        $"NODEFLEET_MAXSILENTCONNECTIONSPERSOURCE={o.Agents + o.BurstSenders + 1000}",
        "NODEFLEET_MAXHANDSHAKESPERSOURCE=100000",
    ];

    public string WorkDir { get; }
    /// <summary>The agents' --root directories live under here.</summary>
    public string RootsDir { get; }
    public CoordinatorProcess Coordinator { get; }
    public AgentLogSink Log { get; }
    public List<SimAgent> Agents { get; } = [];
    /// <summary>Joined identities (name, root) that no agent runs for: the report burst's senders.</summary>
    public List<BurstIdentity> BurstIdentities { get; } = [];
    public JournalMode JournalMode { get; private set; }
    public string Token { get; private set; } = "";
    public string CaHash { get; private set; } = "";
    public TimeSpan JoinTime { get; private set; }

    /// <summary>Config-rollout group label of agent <paramref name="index"/>: simgroup=g0 for the first size, g1 for the next, …</summary>
    public string GroupOf(int index)
    {
        if (!_options.Scenarios.Contains("config-rollout")) return "rest";
        var start = 0;
        for (var g = 0; g < _options.ConfigSizes.Length; g++)
        {
            if (index < start + _options.ConfigSizes[g]) return $"g{g}";
            start += _options.ConfigSizes[g];
        }
        return "rest";
    }

    public async Task SetUpAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(WorkDir);
        await Coordinator.InitAsync();
        var ready = await Coordinator.StartAsync();
        _out.WriteLine($"coordinator {Coordinator.Address} (pid {Coordinator.Pid}, metrics :{Coordinator.MetricsPort}) ready in {ready.TotalSeconds:0.00}s; log {Coordinator.LogFile}");

        var burst = _options.Scenarios.Contains("report-burst") ? _options.BurstSenders : 0;
        var footprint = _options.Scenarios.Contains("agent-footprint") ? 2 : 0;
        var created = await Coordinator.Fleet.CreateTokenAsync(new CreateTokenRequest
        {
            Usages = (uint)(_options.Agents + burst + footprint + 10),
            TtlSet = true,
            Ttl = Duration.FromTimeSpan(TimeSpan.Zero),
            Description = "fleet simulator",
        }, cancellationToken: ct);
        Token = created.Token;
        CaHash = created.CaCertHash;

        // Measured: a socket per agent plus three descriptors per journal on disk (LiteDB's data file twice and its log).
        var limit = Limits.OpenFiles();
        JournalMode = _options.Journal switch
        {
            "disk" => JournalMode.Disk,
            "memory" => JournalMode.Memory,
            _ => (long)_options.Agents * 4 + burst + 1000 <= limit ? JournalMode.Disk : JournalMode.Memory,
        };
        _out.WriteLine($"open-file limit {limit}; journals: {JournalMode.ToString().ToLowerInvariant()}");

        var mapper = Journal.Mapper();
        var roots = RootsDir;
        for (var i = 0; i < _options.Agents; i++)
        {
            var name = $"sim-{i:00000}";
            Agents.Add(new SimAgent(name, Path.Combine(roots, name), JournalMode, mapper, _http, Log));
        }
        for (var i = 0; i < burst; i++)
        {
            var name = $"burst-{i:000}";
            BurstIdentities.Add(new BurstIdentity(name, Path.Combine(roots, name)));
        }

        var sw = Stopwatch.StartNew();
        var joined = 0;
        var work = Agents.Select((a, i) => (Func<Task>)(() => a.JoinAsync(Coordinator.Address, Token, CaHash, $"{AgentLabel},simgroup={GroupOf(i)},simfirst={(i < 50 ? "yes" : "no")}", ct)))
            .Concat(BurstIdentities.Select(b => (Func<Task>)(() => b.Agent(mapper, _http, Log).JoinAsync(Coordinator.Address, Token, CaHash, BurstLabel, ct))))
            .ToList();
        await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = _options.JoinConcurrency, CancellationToken = ct }, async (join, token) =>
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await join();
                    break;
                }
                catch (Exception e) when (attempt < 5 && e is not OperationCanceledException)
                {
                    Log.Write("join", Microsoft.Extensions.Logging.LogLevel.Warning, $"join attempt {attempt} failed: {e.Message}", null);
                    await Task.Delay(TimeSpan.FromSeconds(attempt), token);
                }
            }
            var n = Interlocked.Increment(ref joined);
            if (n % 1000 == 0) _out.WriteLine($"  joined {n}/{work.Count} ({sw.Elapsed.TotalSeconds:0}s)");
        });
        JoinTime = sw.Elapsed;
        _out.WriteLine($"joined {work.Count} nodes through the real join (discovery + CSR) in {JoinTime.TotalSeconds:0.0}s");
    }

    /// <summary>Starts every agent's worker and link, <see cref="Options.StartRate"/> per second.</summary>
    public async Task StartAgentsAsync()
    {
        var perTick = Math.Max(1, _options.StartRate / 10);
        for (var i = 0; i < Agents.Count; i++)
        {
            await Agents[i].StartAsync();
            if ((i + 1) % perTick == 0) await Task.Delay(100);
        }
    }

    public int ConnectedCount() => Agents.Count(a => a.Connected);

    /// <summary>Polls until every agent holds a welcomed stream and the coordinator counts them all; returns when that was.</summary>
    public async Task<TimeSpan> WaitAllConnectedAsync(TimeSpan timeout, Stopwatch since)
    {
        var lastPrint = TimeSpan.Zero;
        var counted = -1;
        while (true)
        {
            var connected = ConnectedCount();
            if (connected == Agents.Count)
            {
                // The coordinator's own count (sessions it holds), which lags by the last hellos in flight.
                try { counted = await Coordinator.ConnectedAgentsAsync(); }
                catch (HttpRequestException) { counted = -1; }
                if (counted >= Agents.Count) return since.Elapsed;
            }
            if (since.Elapsed > timeout)
                throw new TimeoutException($"{connected} of {Agents.Count} agents connected (coordinator counts {counted}) after {timeout.TotalSeconds:0}s; see {Log.Path}");
            if (since.Elapsed - lastPrint > TimeSpan.FromSeconds(5))
            {
                lastPrint = since.Elapsed;
                _out.WriteLine($"  {connected}/{Agents.Count} connected ({since.Elapsed.TotalSeconds:0}s)");
            }
            await Task.Delay(connected == Agents.Count ? 50 : 100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(Agents, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (a, _) => await a.DisposeAsync());
        await Coordinator.DisposeAsync();
        Log.Dispose();
        _http.Dispose();
    }
}

/// <summary>A node joined like the others whose stream the report burst opens by hand (no agent runs for it).</summary>
public sealed record BurstIdentity(string Name, string RootDir)
{
    public SimAgent Agent(LiteDB.BsonMapper mapper, HttpClient http, AgentLogSink log) => new(Name, RootDir, JournalMode.Memory, mapper, http, log);
}
