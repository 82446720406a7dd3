using System.Text.Json;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A real coordinator process on a free loopback port with its own data directory, plus agents, each a real
/// process with its own --root, and the real CLI pointed at the coordinator's admin.conf.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly TempDir _dir = new("nf-cluster");
    private readonly List<TestAgent> _agents = [];

    private readonly string[] _coordinatorArgs;

    private TestCluster(string heartbeat, string[] coordinatorArgs)
    {
        _coordinatorArgs = coordinatorArgs;
        Port = Proc.FreePort();
        MetricsPort = Proc.FreePort();
        Heartbeat = heartbeat;
    }

    public int Port { get; }
    /// <summary>Plain-HTTP port of /metrics, /healthz and /readyz (each coordinator its own, not the default 7444).</summary>
    public int MetricsPort { get; }
    public string MetricsUrl => $"http://127.0.0.1:{MetricsPort}";
    public string Heartbeat { get; }
    public string Address => $"127.0.0.1:{Port}";
    public string DataDir => _dir.Combine("data");
    public string AdminConf => Path.Combine(DataDir, "admin.conf");
    public string Scratch => _dir.Path;
    public BackgroundProc? Coordinator { get; private set; }

    /// <param name="coordinatorArgs">More flags for `nodefleet-coordinator run`.</param>
    public static async Task<TestCluster> StartAsync(string heartbeat = "1s", params string[] coordinatorArgs)
    {
        var c = new TestCluster(heartbeat, coordinatorArgs);
        var init = await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", c.DataDir, "--advertise-address", c.Address]);
        Assert.True(init.ExitCode == 0, init.ToString());
        await c.StartCoordinatorAsync();
        return c;
    }

    /// <summary>A cluster whose coordinator keeps its state in <paramref name="store"/>: init and run are given --store.</summary>
    /// <param name="runArgs">More flags for `run` (--lease-ttl, say).</param>
    public static async Task<TestCluster> StartOnStoreAsync(string store, params string[] runArgs)
    {
        var c = new TestCluster("1s", ["--store", store, .. runArgs]);
        var init = await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", c.DataDir, "--advertise-address", c.Address, "--store", store]);
        Assert.True(init.ExitCode == 0, init.ToString());
        await c.StartCoordinatorAsync();
        return c;
    }

    public async Task StartCoordinatorAsync()
    {
        Coordinator = Proc.Start(Binaries.Coordinator,
            ["run", "--data-dir", DataDir, "--listen", Address, "--metrics-listen", $"127.0.0.1:{MetricsPort}",
             "--heartbeat-interval", Heartbeat, .. _coordinatorArgs]);
        await Coordinator.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
    }

    public async Task KillCoordinatorAsync()
    {
        if (Coordinator is not null) await Coordinator.KillHardAsync();
    }

    public Task<ProcResult> CliAsync(params string[] args) =>
        Proc.RunAsync(Binaries.Cli, args, new Dictionary<string, string> { ["NODEFLEET_CONFIG"] = AdminConf });

    /// <summary>Runs the CLI and fails the test when it does not succeed.</summary>
    public async Task<string> CliOkAsync(params string[] args)
    {
        var r = await CliAsync(args);
        Assert.True(r.ExitCode == 0, $"nodefleet {string.Join(' ', args)}: {r}");
        return r.StdOut;
    }

    /// <summary>Creates a token and returns it with the CA pin, read from the printed join command.</summary>
    public async Task<(string Token, string CaHash)> CreateTokenAsync(params string[] extra)
    {
        var line = (await CliOkAsync(["token", "create", "--print-join-command", .. extra])).Trim();
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var token = words[Array.IndexOf(words, "--token") + 1];
        var hash = words[Array.IndexOf(words, "--ca-cert-hash") + 1];
        Assert.Equal(Address, words[^1]);
        return (token, hash);
    }

    public async Task<JsonElement> NodesJsonAsync(params string[] extra)
    {
        var json = await CliOkAsync(["nodes", "-o", "json", .. extra]);
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("items").Clone();
    }

    public async Task<JsonElement?> NodeAsync(string name)
    {
        foreach (var n in (await NodesJsonAsync()).EnumerateArray())
        {
            if (n.GetProperty("name").GetString() == name) return n;
        }
        return null;
    }

    public async Task<string?> NodeStatusAsync(string name) =>
        (await NodeAsync(name))?.GetProperty("status").GetString();

    public Task WaitForStatusAsync(string node, string status, TimeSpan? timeout = null) =>
        Proc.WaitUntilAsync(async () => await NodeStatusAsync(node) == status, timeout ?? TimeSpan.FromSeconds(30),
            $"node {node} to be {status}");

    public TestAgent NewAgent(string name)
    {
        var a = new TestAgent(this, name);
        _agents.Add(a);
        return a;
    }

    /// <summary>A joined agent with its run process started and seen online.</summary>
    public async Task<TestAgent> JoinedOnlineAgentAsync(string name, params string[] joinArgs)
    {
        var (token, hash) = await CreateTokenAsync();
        var agent = NewAgent(name);
        var join = await agent.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", name, .. joinArgs, Address]);
        Assert.True(join.ExitCode == 0, join.ToString());
        agent.StartRun();
        await WaitForStatusAsync(name, "NODE_STATUS_ONLINE");
        return agent;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var a in _agents) await a.DisposeAsync();
        if (Coordinator is not null) await Coordinator.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>An agent with its own --root directory (a <see cref="NodeRoot"/>, with its recording systemctl).</summary>
public sealed class TestAgent(TestCluster cluster, string name) : IAsyncDisposable
{
    public string Name { get; } = name;
    public NodeRoot Node { get; } = new();
    public string Root => Node.Root;
    public BackgroundProc? Run { get; private set; }
    public TestCluster Cluster { get; } = cluster;

    public Task<ProcResult> JoinAsync(IEnumerable<string> args) =>
        Proc.RunAsync(Binaries.Agent, ["--root", Root, "join", .. args]);

    public void StartRun(params string[] extra)
    {
        Run = Proc.Start(Binaries.Agent, [.. Node.AgentOptions, .. extra, "run"]);
    }

    public Task<ProcResult> StatusAsync(params string[] extra) =>
        Proc.RunAsync(Binaries.Agent, ["--root", Root, "status", .. extra]);

    public string HostPath(string hostPath) => Node.HostPath(hostPath);

    public async ValueTask DisposeAsync()
    {
        if (Run is not null) await Run.DisposeAsync();
        Node.Dispose();
    }
}
