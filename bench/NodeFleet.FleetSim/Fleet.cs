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
        Log = new AgentLogSink(Path.Combine(workDir, "agents.log")) { Verbose = options.Verbose };
    }

    private CoordinatorProcess NewCoordinator(int index, string? store)
    {
        var suffix = index == 0 ? "" : $"-{index + 1}";
        return new CoordinatorProcess(_options.Coordinator ?? IntegrationTests.Infrastructure.Binaries.Coordinator,
            Path.Combine(WorkDir, "coordinator" + suffix), Path.Combine(WorkDir, $"coordinator{suffix}.log"), _options.Heartbeat, _options.CoordinatorNice,
            [.. SharedSourceLimits(_options), .. _options.CoordinatorEnv], _options.CoordinatorCpus, store, joinStore: index > 0, _options.LeaseTtl,
            adminConf: index == 0 ? null : Path.Combine(WorkDir, "coordinator", "admin.conf"));
    }

    /// <summary>
    /// Every simulated agent connects from 127.0.0.1, where a fleet's agents each have an address of their own: the
    /// coordinator's per-source bounds (silent connections, handshakes at once), meant for one misbehaving address, are
    /// lifted to what the whole simulated fleet needs. And where a real agent sends its TLS ClientHello as soon as its
    /// TCP connection is up, thousands of simulated ones share this process's CPU and may take seconds to: the first-byte
    /// timeout allows for that lag of the simulator, not of the coordinator. --coordinator-env can still set all three.
    /// </summary>
    private static IEnumerable<string> SharedSourceLimits(Options o) =>
    [
        $"NODEFLEET_MAXSILENTCONNECTIONSPERSOURCE={o.Agents + o.BurstSenders + 1000}",
        "NODEFLEET_MAXHANDSHAKESPERSOURCE=100000",
        "NODEFLEET_CONNECTIONFIRSTBYTETIMEOUT=60s",
    ];

    public string WorkDir { get; }
    /// <summary>The agents' --root directories live under here.</summary>
    public string RootsDir { get; }
    /// <summary>The coordinators on the one store (one with LiteDB); the first made the fleet (`init`), the others joined it.</summary>
    public List<CoordinatorProcess> Coordinators { get; } = [];
    /// <summary>The first coordinator still running (the operator API, the scenarios of one coordinator).</summary>
    public CoordinatorProcess Coordinator => Coordinators.FirstOrDefault(c => c.Running) ?? Coordinators[0];
    /// <summary>The PostgreSQL of --store postgres; null with LiteDB.</summary>
    public PostgresCluster? Postgres { get; private set; }

    /// <summary>Every coordinator's address, starting with agent <paramref name="index"/>'s own (what its join is given).</summary>
    public string AddressListOf(int index)
    {
        var k = index % Coordinators.Count;
        return string.Join(',', Coordinators.Skip(k).Concat(Coordinators.Take(k)).Select(c => c.Address));
    }

    /// <summary>Agent streams held by the running coordinators, from their metrics; -1 if one did not answer.</summary>
    public async Task<int> ConnectedAgentsAsync()
    {
        var total = 0;
        foreach (var c in Coordinators.Where(c => c.Running))
        {
            try { total += await c.ConnectedAgentsAsync(); }
            catch (HttpRequestException) { return -1; }
        }
        return total;
    }

    /// <summary>The same with blocking calls, for polling loops on a thread of their own.</summary>
    public int ConnectedAgentsBlocking()
    {
        var total = 0;
        foreach (var c in Coordinators.Where(c => c.Running))
        {
            var n = c.ConnectedAgentsBlocking();
            if (n < 0) return -1;
            total += n;
        }
        return total;
    }

    /// <summary>CPU time of the running coordinator processes, together.</summary>
    public TimeSpan CoordinatorsCpu() => Coordinators.Where(c => c.Running).Aggregate(TimeSpan.Zero, (t, c) => t + ProcStats.Cpu(c.Pid));
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
        string? store = null;
        if (_options.Store == "postgres")
        {
            Postgres = _options.Postgres is { } given
                ? PostgresCluster.External(given)
                : await PostgresCluster.StartAsync(_options.PostgresCpus, _options.CoordinatorNice, _options.PostgresSettings, _out);
            store = Postgres.ConnectionString;
        }
        for (var i = 0; i < _options.Coordinators; i++) Coordinators.Add(NewCoordinator(i, store));
        // One after the other: the first makes the fleet (CA in the store, schema), the others join it.
        foreach (var c in Coordinators)
        {
            await c.InitAsync();
            var ready = await c.StartAsync();
            _out.WriteLine($"coordinator {c.Address} (pid {c.Pid}, metrics :{c.MetricsPort}{(store is null ? "" : ", PostgreSQL store")}) ready in {ready.TotalSeconds:0.00}s; log {c.LogFile}");
        }

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
        var work = Agents.Select((a, i) => (Func<Task>)(() => a.JoinAsync(AddressListOf(i), Token, CaHash, $"{AgentLabel},simgroup={GroupOf(i)},simfirst={(i < 50 ? "yes" : "no")}", ct)))
            .Concat(BurstIdentities.Select((b, i) => (Func<Task>)(() => b.Agent(mapper, _http, Log).JoinAsync(AddressListOf(i), Token, CaHash, BurstLabel, ct))))
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
                counted = await ConnectedAgentsAsync();
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

    /// <summary>
    /// On SIGINT or SIGTERM: the processes this run started (coordinators, the private PostgreSQL) are not children that
    /// die with it, so they are stopped here, at once; the run's directories stay.
    /// </summary>
    public void StopProcessesNow()
    {
        foreach (var c in Coordinators.Where(c => c.Running))
        {
            try { IntegrationTests.Infrastructure.Proc.Signal(c.Pid, IntegrationTests.Infrastructure.Proc.SIGKILL); }
            catch (InvalidOperationException) { }
        }
        Postgres?.StopNow();
    }

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(Agents, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (a, _) => await a.DisposeAsync());
        foreach (var c in Coordinators) await c.DisposeAsync();
        if (Postgres is not null) await Postgres.DisposeAsync();
        Log.Dispose();
        _http.Dispose();
    }
}

/// <summary>A node joined like the others whose stream the report burst opens by hand (no agent runs for it).</summary>
public sealed record BurstIdentity(string Name, string RootDir)
{
    public SimAgent Agent(LiteDB.BsonMapper mapper, HttpClient http, AgentLogSink log) => new(Name, RootDir, JournalMode.Memory, mapper, http, log);
}
