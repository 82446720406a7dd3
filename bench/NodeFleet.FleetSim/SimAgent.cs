using System.Collections.Concurrent;
using LiteDB;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;

namespace NodeFleet.FleetSim;

/// <summary>Where a simulated agent keeps its journal.</summary>
public enum JournalMode
{
    /// <summary>journal.db under the agent's root, as on a real node (one or two file descriptors each).</summary>
    Disk,
    /// <summary>The same LiteDB journal on a MemoryStream: 10,000 of them fit in one process's descriptor limit.</summary>
    Memory,
}

/// <summary>
/// One simulated node: the real agent objects — <see cref="JoinCommand"/>, <see cref="CoordinatorLink"/> (its own
/// gRPC channel, its own client certificate), <see cref="PlanWorker"/> and <see cref="PlanExecutor"/> with its
/// <see cref="Journal"/> — wired by hand as `nodefleet-agent run` wires them through the Generic Host, on a root
/// directory of its own. Only the service manager is a stand-in: it records what would have been called.
/// </summary>
public sealed class SimAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CoordinatorLink _link;
    private readonly PlanWorker _worker;
    private readonly FactsCollector _facts;
    private readonly ImageServiceFactory _runtimes;
    private readonly AgentLogSink _sink;
    private int _state; // 0 idle, 1 connected, 2 disconnected
    private int _connects;

    public SimAgent(string name, string rootDir, JournalMode journal, BsonMapper mapper, HttpClient http, AgentLogSink sink)
    {
        Name = name;
        RootDir = rootDir;
        _sink = sink;
        // A simulated node stands in for its kernel too: /proc is seeded under its own directory.
        Root = new HostRoot(rootDir, kernelRoot: rootDir);
        SeedRoot();
        var files = new HostFiles(Root);
        var commands = new CommandRunner(Root);
        Journal = journal == JournalMode.Memory ? new Journal(new MemoryStream(), mapper) : new Journal(Root);
        var outbox = new OutboxObserver(Journal);
        _runtimes = new ImageServiceFactory(Root, files);
        Executor = new PlanExecutor(Journal, files, new BackupStore(Root), Services, _runtimes, commands,
            new PhaseCatalog(http, new AgentSettings()),
            new RunObservers([outbox, new LogObserver(Logger<LogObserver>())]),
            new Failpoints(null), TimeProvider.System, Logger<PlanExecutor>());
        _worker = new PlanWorker(Executor, Logger<PlanWorker>());
        _facts = new FactsCollector(files, _runtimes, commands, Logger<FactsCollector>());
        _link = new CoordinatorLink(Root, _facts, _worker, Executor, outbox, TimeProvider.System, Logger<CoordinatorLink>());
    }

    public string Name { get; }
    public string RootDir { get; }
    public HostRoot Root { get; }
    public Journal Journal { get; }
    public PlanExecutor Executor { get; }
    public RecordingServiceManager Services { get; } = new();

    public bool Connected => Volatile.Read(ref _state) == 1;
    /// <summary>Streams established so far (welcomed by the coordinator).</summary>
    public int Connects => Volatile.Read(ref _connects);
    public DateTime LastConnectedAt { get; private set; }
    /// <summary>The coordinator (HOST:PORT) of the stream last welcomed.</summary>
    public string? Address { get; private set; }

    private ILogger<T> Logger<T>() => new AgentLogger<T>(this, _sink);

    /// <summary>The host files preflight reads (as the integration tests' NodeRoot), and the node's host name.</summary>
    private void SeedRoot()
    {
        void Write(string hostPath, string content)
        {
            var p = Root.Path(hostPath);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllText(p, content);
        }
        Write("/etc/hostname", Name + "\n");
        Write("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
        Write("/proc/sys/net/ipv4/ip_forward", "1\n");
        Write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
        Write("/proc/modules", "overlay 151552 0 - Live 0x0\nbr_netfilter 32768 0 - Live 0x0\n");
    }

    /// <summary>`nodefleet-agent join --token … --ca-cert-hash … --node-name NAME --labels …` through the real JoinCommand.</summary>
    public async Task JoinAsync(string address, string token, string caHash, string labels, CancellationToken ct)
    {
        var join = new JoinCommand(Root, _facts, Logger<JoinCommand>(), TimeProvider.System);
        var code = await join.RunAsync(new JoinCommand.Options(address, token, caHash, null, false, Name, labels), TextWriter.Null, ct);
        if (code != 0) throw new InvalidOperationException($"join of {Name} exited {code}");
    }

    /// <summary>`nodefleet-agent run`: the plan worker and the link, as the host starts them.</summary>
    public async Task StartAsync()
    {
        await _worker.StartAsync(_stop.Token);
        await _link.StartAsync(_stop.Token);
    }

    public async Task StopAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _link.StopAsync(cts.Token);
        await _worker.StopAsync(cts.Token);
    }

    /// <summary>Runs in the journal, and how many of them succeeded.</summary>
    public (int Runs, int Succeeded) JournalRuns()
    {
        var runs = Journal.Runs.FindAll().ToList();
        return (runs.Count, runs.Count(r => r.State == RunState.Succeeded));
    }

    public RunRecord? LatestRun(string plan) => Journal.LatestRun(plan);

    /// <summary>Runs of <paramref name="plan"/> in the journal.</summary>
    public int RunsOf(string plan) => Journal.Runs.Count(r => r.PlanName == plan);

    internal void OnLinkMessage(string format, IReadOnlyList<KeyValuePair<string, object?>> values)
    {
        if (format.StartsWith("Connected to the coordinator", StringComparison.Ordinal))
        {
            LastConnectedAt = DateTime.UtcNow;
            Address = values.FirstOrDefault(v => v.Key == "Address").Value?.ToString();
            Interlocked.Increment(ref _connects);
            Volatile.Write(ref _state, 1);
        }
        else if (format.StartsWith("Disconnected from the coordinator", StringComparison.Ordinal)
                 || format.StartsWith("Stream to the coordinator broke", StringComparison.Ordinal)
                 || format.StartsWith("Coordinator {Address} unreachable", StringComparison.Ordinal)
                 || format.StartsWith("No heartbeat acknowledged", StringComparison.Ordinal))
        {
            Volatile.Write(ref _state, 2);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); }
        catch (OperationCanceledException) { }
        _link.Dispose();
        _worker.Dispose();
        Journal.Dispose();
        _runtimes.Dispose();
        _stop.Dispose();
    }
}

/// <summary>The service manager stand-in: records daemon-reload and restarts instead of calling systemctl; every unit is active.</summary>
public sealed class RecordingServiceManager : IServiceManager
{
    private readonly ConcurrentQueue<string> _calls = new();

    public IReadOnlyList<string> Calls => _calls.ToArray();
    public int CallCount => _calls.Count;

    public Task DaemonReloadAsync(CancellationToken ct)
    {
        _calls.Enqueue("daemon-reload");
        return Task.CompletedTask;
    }

    public Task RestartAsync(string unit, CancellationToken ct)
    {
        _calls.Enqueue($"restart {unit}");
        return Task.CompletedTask;
    }

    public Task<bool> IsActiveAsync(string unit, CancellationToken ct) => Task.FromResult(true);
}

/// <summary>
/// Where the simulated agents' log lines go: warnings and errors to one file (with the node's name), and counted;
/// information lines of the link are only looked at, to follow each agent's connection state.
/// </summary>
public sealed class AgentLogSink : IDisposable
{
    private readonly StreamWriter _file;
    private long _warnings, _errors;

    public AgentLogSink(string path)
    {
        _file = new StreamWriter(path, append: true) { AutoFlush = false };
        Path = path;
    }

    public string Path { get; }
    public long Warnings => Interlocked.Read(ref _warnings);
    public long Errors => Interlocked.Read(ref _errors);
    /// <summary>Also keep information lines (only with few agents: --verbose).</summary>
    public bool Verbose { get; init; }

    public void Write(string node, LogLevel level, string message, Exception? e)
    {
        if (level >= LogLevel.Error) Interlocked.Increment(ref _errors);
        else if (level == LogLevel.Warning) Interlocked.Increment(ref _warnings);
        lock (_file)
        {
            _file.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {level.ToString()[..4].ToUpperInvariant()} {node}: {message}{(e is null ? "" : " " + e)}");
        }
    }

    public void Flush()
    {
        lock (_file) _file.Flush();
    }

    public void Dispose()
    {
        lock (_file) _file.Dispose();
    }
}

internal sealed class AgentLogger<T>(SimAgent agent, AgentLogSink sink) : ILogger<T>
{
    private static readonly bool IsLink = typeof(T) == typeof(CoordinatorLink);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning || (logLevel == LogLevel.Information && (IsLink || sink.Verbose));

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsLink && state is IReadOnlyList<KeyValuePair<string, object?>> values && values.Count > 0
            && values[^1] is { Key: "{OriginalFormat}", Value: string format })
            agent.OnLinkMessage(format, values);
        if (logLevel >= LogLevel.Warning || sink.Verbose) sink.Write(agent.Name, logLevel, formatter(state, exception), exception);
    }
}
