using System.Globalization;

namespace NodeFleet.FleetSim;

/// <summary>Command-line settings of the simulator; --quick shrinks every size and duration to a CI smoke test.</summary>
public sealed record Options
{
    /// <summary>Every scenario, in the order `all` runs them (the 1, 5, 2, 4, 3, 6): the restart storm comes before the big
    /// rollouts, while the simulator's own heap (10,000 journals) is still small.</summary>
    public static readonly string[] AllScenarios = ["connected", "restart-storm", "noop-rollout", "report-burst", "config-rollout", "agent-footprint"];
    /// <summary>Scenarios `all` leaves out, named on their own: the failover needs several coordinators on PostgreSQL.</summary>
    public static readonly string[] ExtraScenarios = ["failover"];

    public List<string> Scenarios { get; init; } = [];
    public bool Quick { get; init; }
    public int Agents { get; init; } = 1000;
    public string Heartbeat { get; init; } = "10s";
    public int SettleSeconds { get; init; } = 15;
    public int IdleSeconds { get; init; } = 30;
    public int BurstRate { get; init; } = 2000;
    public int BurstSeconds { get; init; } = 15;
    public int BurstSenders { get; init; } = 100;

    /// <summary>
    /// Seconds of reports at a quarter of the burst rate before the burst is measured: a coordinator that has run a
    /// while has its code compiled; one measured right after start spends a fifth of its core compiling.
    /// </summary>
    public int BurstWarmupSeconds { get; init; } = 60;
    /// <summary>Reports per second of the warm-up; 0 for a quarter of the burst rate.</summary>
    public int BurstWarmupRate { get; init; }
    public int[] ConfigSizes { get; init; } = [50, 1000];
    public int FootprintSeconds { get; init; } = 60;
    public int FootprintStarts { get; init; } = 5;
    public string Journal { get; init; } = "auto";
    public int JoinConcurrency { get; init; } = 16;
    public int StartRate { get; init; } = 500;
    public int StormTimeoutSeconds { get; init; } = 300;
    public int RolloutTimeoutSeconds { get; init; } = 600;
    public string? WorkDir { get; init; }
    /// <summary>Where the agents' roots go; default a directory on /dev/shm (tmpfs) when there is one.</summary>
    public string? RootsDir { get; init; }
    /// <summary>Scheduling priority of the coordinator relative to this process (negative: it wins the CPU).</summary>
    public int CoordinatorNice { get; init; } = -10;
    /// <summary>CPUs the coordinator is pinned to (taskset -c), so that it and this process do not share a core.</summary>
    public string? CoordinatorCpus { get; init; }
    public int HoldSeconds { get; init; }
    /// <summary>Extra environment of the coordinator process (experiments: GC, thread pool settings).</summary>
    public List<string> CoordinatorEnv { get; init; } = [];
    public bool Keep { get; init; }
    public string? Markdown { get; init; }
    public string? Json { get; init; }
    public string? Coordinator { get; init; }
    public string? Agent { get; init; }
    public string? AotAgent { get; init; }
    public bool Verbose { get; init; }
    /// <summary>litedb (one coordinator on its LiteDB file, the default) or postgres.</summary>
    public string Store { get; init; } = "litedb";
    /// <summary>A PostgreSQL server to use instead of a private cluster started for the run.</summary>
    public string? Postgres { get; init; }
    /// <summary>Coordinator processes on the one store (more than one needs PostgreSQL).</summary>
    public int Coordinators { get; init; } = 1;
    /// <summary>--lease-ttl of every coordinator; null: the product default (15 s).</summary>
    public string? LeaseTtl { get; init; }
    /// <summary>CPUs the private PostgreSQL cluster is pinned to.</summary>
    public string? PostgresCpus { get; init; }
    /// <summary>Extra server settings of the private cluster (-c NAME=VALUE).</summary>
    public List<string> PostgresSettings { get; init; } = [];
    /// <summary>The failover scenario kills the lease holder once this share of the rollout's nodes has succeeded.</summary>
    public int FailoverAtPercent { get; init; } = 25;

    public static Options Quickly(Options o) => o with
    {
        Quick = true,
        Agents = 200,
        Heartbeat = "2s",
        SettleSeconds = 2,
        IdleSeconds = 5,
        BurstRate = 400,
        BurstSeconds = 3,
        BurstSenders = 20,
        BurstWarmupSeconds = 1,
        ConfigSizes = [10, 50],
        FootprintSeconds = 5,
        FootprintStarts = 2,
        StormTimeoutSeconds = 120,
        RolloutTimeoutSeconds = 120,
    };

    public const string Usage = """
        usage: nodefleet-fleetsim [SCENARIO...|all] [options]

        Starts a real coordinator (src/Coordinator/bin/<config>/net10.0/nodefleet-coordinator, init + run on loopback, its
        own data directory) and N simulated agents in this process — the real agent link and executor, each with its own
        gRPC connection, certificate (joined through the real join with a bootstrap token) and --root directory; the
        service manager records instead of calling systemctl — then runs the scenarios (default: all, in this order):

          connected        N agents online: coordinator RSS and idle CPU (/proc) over --idle-seconds
          restart-storm    kill -9 the coordinator with N agents connected, restart it: time until all are back, re-applied
          noop-rollout     a plan already satisfied everywhere (preflight only, errors ignored), every node at once
          report-burst     --burst-rate step reports/s for --burst-seconds over the real AgentLink stream: ack p50/p99, lost
          config-rollout   a kubelet drop-in + containerd mirror (hosts.toml) + restarts, on each of --config-sizes nodes
          agent-footprint  a real `nodefleet-agent run` process, joined and idle: RSS, CPU, start-to-connected
          failover         (not in `all`; --coordinators 2 or more) a rollout in waves, the lease holder killed (kill -9)
                           mid-rollout: time until another holds the lease, until the rollout progresses again, until the
                           killed coordinator's agents are back on the others; the rollout completes, one run per node

        With --store postgres the coordinators share one PostgreSQL database (a private cluster started for the run, or
        --postgres); with --coordinators K there are K coordinator processes on it (the first `init`s, the others
        `init --join-store`), agent i joins coordinator i mod K and is given all K addresses starting with that one, and
        the report burst's senders are spread the same way.

        options:
          --quick                  CI smoke test: 200 agents, heartbeat 2s, seconds-long phases (sizes and durations below)
          --agents N               simulated agents (default 1000; the issue's figures are at 10000)
          --heartbeat D            coordinator --heartbeat-interval (default 10s, the product default)
          --idle-seconds S         CPU window of `connected` (default 30)
          --settle-seconds S       wait after all are online before measuring (default 15)
          --burst-rate R           reports per second (default 2000)
          --burst-seconds S        burst length (default 15)
          --burst-senders K        node identities sending the burst, each its own stream (default 100)
          --burst-warmup S         seconds of reports at a quarter of the rate before the measured burst (default 60; 0: none)
          --burst-warmup-rate R    the warm-up's reports per second instead (the burst's own rate: a coordinator that has
                                   seen a burst before)
          --config-sizes A,B       node counts of the configuration rollouts (default 50,1000)
          --footprint-seconds S    idle window of `agent-footprint` (default 60)
          --footprint-starts K     start-to-connected samples (default 5)
          --journal auto|disk|memory
                                   where simulated agents keep their journal (default auto: on disk under each root when
                                   the open-file limit allows, else the same LiteDB journal in memory)
          --join-concurrency C     joins in flight (default 16)
          --start-rate R           agents started per second at the beginning (default 500)
          --work DIR               scratch directory (default a new /tmp/nf-fleetsim-*); --keep leaves it
          --roots DIR              where the agents' --root directories go (default a new /dev/shm/nf-fleetsim-* when /dev/shm
                                   is a tmpfs: 10,000 nodes' fsyncs on one shared disk would measure the disk, not NodeFleet)
          --coordinator-cpus L     pin the coordinator to these CPUs (taskset -c L, e.g. 0); start this process itself
                                   under `taskset -c 1` so that the two never share a core
          --coordinator-nice N     run the coordinator at this nice value relative to the simulator (default -10: on
                                   a real fleet the agents do not share the coordinator's CPU; 0 to share it evenly);
                                   the private PostgreSQL of --store postgres runs at the same value, so that the
                                   servers share their cores evenly among themselves
          --rollout-timeout S      give up on a rollout after S seconds (default 600; quick 120)
          --hold S                 keep the fleet up S seconds after the scenarios (to attach a profiler)
          --coordinator-env K=V    extra environment variable for the coordinator (repeatable; e.g. DOTNET_gcServer=0)
          --markdown FILE          append the results as Markdown
          --json FILE              write the results as JSON
          --coordinator PATH       coordinator binary; --agent PATH agent binary for agent-footprint;
          --aot-agent PATH         also measure this (AOT) agent binary in agent-footprint
          --verbose                keep the simulated agents' information log lines too
          --store litedb|postgres  the coordinators' store (default litedb: one coordinator on its own LiteDB file)
          --postgres CONNSTRING    use this PostgreSQL database (empty of NodeFleet tables) instead of starting a private
                                   cluster (implies --store postgres); a postgres:// URL or an Npgsql connection string
          --coordinators K         coordinator processes on the one store (default 1; 2 or more need --store postgres);
                                   --coordinator-cpus and --coordinator-nice apply to each
          --lease-ttl D            every coordinator's --lease-ttl (default: the product's 15s)
          --postgres-cpus L        pin the private PostgreSQL cluster to these CPUs (taskset -c L)
          --postgres-setting K=V   extra server setting of the private cluster (repeatable; e.g. synchronous_commit=off)
          --failover-at P          failover: kill the lease holder once P % of the rollout's nodes succeeded (default 25)
        """;

    public static Options Parse(string[] args)
    {
        var o = new Options();
        var scenarios = new List<string>();
        var quick = args.Contains("--quick");
        if (quick) o = Quickly(o);
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int(int min)
            {
                var name = args[i];
                var v = Value();
                return int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min
                    ? n : throw new ArgumentException($"{name}: '{v}' is not a whole number ≥ {min}");
            }
            // A CPU list as taskset takes it: 0, 0,2 or 0-3.
            string CpuList()
            {
                var name = args[i];
                var v = Value();
                return v.Length > 0 && v.All(c => char.IsAsciiDigit(c) || c is ',' or '-')
                    ? v : throw new ArgumentException($"{name}: '{v}' is not a CPU list such as 0 or 0,2-3");
            }
            switch (args[i])
            {
                case "--quick": break;
                case "--agents": o = o with { Agents = Int(1) }; break;
                case "--heartbeat": o = o with { Heartbeat = Value() }; break;
                case "--idle-seconds": o = o with { IdleSeconds = Int(1) }; break;
                case "--settle-seconds": o = o with { SettleSeconds = Int(0) }; break;
                case "--burst-rate": o = o with { BurstRate = Int(1) }; break;
                case "--burst-seconds": o = o with { BurstSeconds = Int(1) }; break;
                case "--burst-senders": o = o with { BurstSenders = Int(1) }; break;
                case "--burst-warmup": o = o with { BurstWarmupSeconds = Int(0) }; break;
                case "--burst-warmup-rate": o = o with { BurstWarmupRate = Int(1) }; break;
                case "--config-sizes":
                    o = o with
                    {
                        ConfigSizes = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                            .Select(s => int.TryParse(s, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"--config-sizes: '{s}'"))
                            .ToArray(),
                    };
                    break;
                case "--footprint-seconds": o = o with { FootprintSeconds = Int(1) }; break;
                case "--footprint-starts": o = o with { FootprintStarts = Int(1) }; break;
                case "--journal":
                    var j = Value();
                    if (j is not ("auto" or "disk" or "memory")) throw new ArgumentException($"--journal: '{j}' is not auto, disk or memory");
                    o = o with { Journal = j };
                    break;
                case "--join-concurrency": o = o with { JoinConcurrency = Int(1) }; break;
                case "--start-rate": o = o with { StartRate = Int(1) }; break;
                case "--work": o = o with { WorkDir = Path.GetFullPath(Value()) }; break;
                case "--keep": o = o with { Keep = true }; break;
                case "--roots": o = o with { RootsDir = Path.GetFullPath(Value()) }; break;
                case "--coordinator-nice":
                    var nv = Value();
                    o = o with { CoordinatorNice = int.TryParse(nv, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var nice) && nice is >= -20 and <= 19 ? nice : throw new ArgumentException($"--coordinator-nice: '{nv}'") };
                    break;
                case "--coordinator-cpus": o = o with { CoordinatorCpus = CpuList() }; break;
                case "--hold": o = o with { HoldSeconds = Int(0) }; break;
                case "--rollout-timeout": o = o with { RolloutTimeoutSeconds = Int(1) }; break;
                case "--coordinator-env":
                    var kv = Value();
                    if (kv.IndexOf('=', StringComparison.Ordinal) <= 0) throw new ArgumentException($"--coordinator-env: '{kv}' is not K=V");
                    o = o with { CoordinatorEnv = [.. o.CoordinatorEnv, kv] };
                    break;
                case "--markdown": o = o with { Markdown = Path.GetFullPath(Value()) }; break;
                case "--json": o = o with { Json = Path.GetFullPath(Value()) }; break;
                case "--coordinator": o = o with { Coordinator = Path.GetFullPath(Value()) }; break;
                case "--agent": o = o with { Agent = Path.GetFullPath(Value()) }; break;
                case "--aot-agent": o = o with { AotAgent = Path.GetFullPath(Value()) }; break;
                case "--verbose": o = o with { Verbose = true }; break;
                case "--store":
                    var store = Value();
                    if (store is not ("litedb" or "postgres")) throw new ArgumentException($"--store: '{store}' is not litedb or postgres");
                    o = o with { Store = store };
                    break;
                case "--postgres":
                    var pg = Value();
                    if (pg.Length == 0) throw new ArgumentException("--postgres: the connection string is empty");
                    o = o with { Postgres = pg, Store = "postgres" };
                    break;
                case "--coordinators": o = o with { Coordinators = Int(1) }; break;
                case "--lease-ttl": o = o with { LeaseTtl = Value() }; break;
                case "--postgres-cpus": o = o with { PostgresCpus = CpuList() }; break;
                case "--postgres-setting":
                    var setting = Value();
                    if (setting.IndexOf('=', StringComparison.Ordinal) <= 0 || setting.Any(char.IsWhiteSpace))
                        throw new ArgumentException($"--postgres-setting: '{setting}' is not NAME=VALUE (no spaces)");
                    o = o with { PostgresSettings = [.. o.PostgresSettings, setting] };
                    break;
                case "--failover-at":
                    var at = Int(1);
                    if (at > 90) throw new ArgumentException($"--failover-at: {at} is above 90 (%)");
                    o = o with { FailoverAtPercent = at };
                    break;
                case "all": scenarios.AddRange(AllScenarios); break;
                default:
                    if (AllScenarios.Contains(args[i]) || ExtraScenarios.Contains(args[i])) scenarios.Add(args[i]);
                    else throw new ArgumentException($"unknown scenario or option '{args[i]}'");
                    break;
            }
        }
        if (scenarios.Count == 0) scenarios.AddRange(AllScenarios);
        if (o.Coordinators > 1 && o.Store != "postgres")
            throw new ArgumentException($"--coordinators {o.Coordinators}: several coordinators share one PostgreSQL store (add --store postgres)");
        if (o.LeaseTtl is not null && o.Store != "postgres")
            throw new ArgumentException("--lease-ttl: the lease matters with several coordinators on PostgreSQL (add --store postgres)");
        if (scenarios.Contains("failover") && o.Coordinators < 2)
            throw new ArgumentException("failover: the lease holder is killed for another coordinator to take over (add --store postgres --coordinators 2 or more)");
        // In the order given, each once.
        return o with { Scenarios = scenarios.Distinct().ToList() };
    }

    /// <summary>The node counts the configuration rollouts use, in agents' index order (disjoint groups).</summary>
    public int ConfigNodes => Scenarios.Contains("config-rollout") ? ConfigSizes.Sum() : 0;
}
