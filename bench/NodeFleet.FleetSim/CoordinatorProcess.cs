using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using Grpc.Net.Client;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.FleetSim;

/// <summary>
/// The real coordinator binary (`init`, then `run` on loopback with its own data directory), its output in a log file
/// (not a pipe this process would have to drain), its metrics port, and the operator API with admin.conf.
/// </summary>
public sealed class CoordinatorProcess : IAsyncDisposable
{
    private readonly string _binary;
    private readonly string _heartbeat;
    private readonly int _nice;
    private readonly string? _cpus;
    private readonly IReadOnlyList<string> _env;
    private readonly string? _store;
    private readonly bool _joinStore;
    private readonly string? _leaseTtl;
    private readonly string? _adminConf;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private Process? _process;
    private GrpcChannel? _admin;

    /// <param name="store">The store setting (PostgreSQL); null: the LiteDB file in the data directory.</param>
    /// <param name="joinStore">`init --join-store`: another coordinator of the fleet the store holds already.</param>
    /// <param name="adminConf">The operator config to call it with (a joined coordinator writes none: the first one's).</param>
    public CoordinatorProcess(string binary, string dataDir, string logFile, string heartbeat, int nice = 0, IReadOnlyList<string>? env = null, string? cpus = null,
        string? store = null, bool joinStore = false, string? leaseTtl = null, string? adminConf = null)
    {
        _store = store;
        _joinStore = joinStore;
        _leaseTtl = leaseTtl;
        _adminConf = adminConf;
        _nice = nice;
        _cpus = cpus;
        _env = env ?? [];
        _binary = binary;
        DataDir = dataDir;
        LogFile = logFile;
        _heartbeat = heartbeat;
        Port = Proc.FreePort();
        MetricsPort = Proc.FreePort();
    }

    public string DataDir { get; }
    public string LogFile { get; }
    public int Port { get; }
    public int MetricsPort { get; }
    public string Address => $"127.0.0.1:{Port}";
    public string AdminConf => _adminConf ?? Path.Combine(DataDir, "admin.conf");
    public int Pid => _process?.Id ?? throw new InvalidOperationException("the coordinator is not running");
    public bool Running => _process is { HasExited: false };

    public Fleet.FleetClient Fleet => new(Admin());
    public Rollouts.RolloutsClient Rollouts => new(Admin());
    public Coordinators.CoordinatorsClient Registry => new(Admin());

    private GrpcChannel Admin()
    {
        if (_admin is not null) return _admin;
        var config = ClientConfig.Load(AdminConf);
        return _admin = GrpcChannels.Create(Address, config.CaCertificate(), config.ClientCertificate());
    }

    public async Task InitAsync()
    {
        List<string> args = ["init", "--data-dir", DataDir, "--advertise-address", Address];
        if (_store is not null) args.AddRange(["--store", _store]);
        if (_joinStore) args.Add("--join-store");
        var r = await Proc.RunAsync(_binary, [.. args]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"nodefleet-coordinator {string.Join(' ', args.Where(a => a != _store))} failed: {r}");
    }

    /// <summary>Starts `run` and waits until /readyz answers ok; returns the time that took.</summary>
    public async Task<TimeSpan> StartAsync(TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // exec: the PID is the coordinator's own, so kill -9 hits it and /proc/PID describes it.
        psi.ArgumentList.Add("-c");
        var pin = _cpus is null ? "" : $"taskset -c {_cpus} ";
        var nice = _nice == 0 ? "" : $"nice -n {_nice} ";
        psi.ArgumentList.Add($"exec {pin}{nice}\"$0\" \"$@\" >>\"$NF_SIM_LOG\" 2>&1");
        foreach (var a in new[]
                 {
                     _binary, "run", "--data-dir", DataDir, "--listen", Address, "--metrics-listen", $"127.0.0.1:{MetricsPort}",
                     "--heartbeat-interval", _heartbeat, "--log-format", "json",
                 }) psi.ArgumentList.Add(a);
        if (_store is not null) foreach (var a in new[] { "--store", _store }) psi.ArgumentList.Add(a);
        if (_leaseTtl is not null) foreach (var a in new[] { "--lease-ttl", _leaseTtl }) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("NODEFLEET_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["NF_SIM_LOG"] = LogFile;
        foreach (var kv in _env) psi.Environment[kv[..kv.IndexOf('=', StringComparison.Ordinal)]] = kv[(kv.IndexOf('=', StringComparison.Ordinal) + 1)..];
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the coordinator");
        var deadline = timeout ?? TimeSpan.FromSeconds(60);
        // Polled from a thread of its own with blocking calls: when thousands of simulated agents flood this process's
        // thread pool (a restart storm), the figure must still be the coordinator's readiness, not our backlog.
        var process = _process;
        return await Task.Factory.StartNew(() =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            while (true)
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"the coordinator exited with {process.ExitCode}; see {LogFile}");
                try
                {
                    using var r = http.Send(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{MetricsPort}/readyz"));
                    if (r.IsSuccessStatusCode) return sw.Elapsed;
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                if (sw.Elapsed > deadline) throw new TimeoutException($"the coordinator was not ready within {deadline.TotalSeconds:0}s; see {LogFile}");
                Thread.Sleep(10);
            }
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>kill -9: no flush, no graceful close of the agents' streams.</summary>
    public async Task KillHardAsync()
    {
        if (_process is null || _process.HasExited) return;
        Proc.Signal(_process.Id, Proc.SIGKILL);
        await _process.WaitForExitAsync();
    }

    /// <summary>The coordinator's Prometheus metrics, as name{labels} → value.</summary>
    public async Task<Dictionary<string, double>> MetricsAsync()
    {
        var text = await _http.GetStringAsync($"http://127.0.0.1:{MetricsPort}/metrics");
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.LastIndexOf(' ');
            if (space <= 0) continue;
            if (double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) result[line[..space]] = v;
        }
        return result;
    }

    public async Task<double> MetricAsync(string series) => (await MetricsAsync()).GetValueOrDefault(series);

    public async Task<int> ConnectedAgentsAsync() => (int)await MetricAsync("nodefleet_connected_agents");

    private readonly HttpClient _blockingHttp = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>nodefleet_rollout_nodes of one rollout, state → nodes, with a blocking call; empty if unanswered.</summary>
    public Dictionary<string, int> RolloutNodesBlocking(string rollout)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var prefix = $"nodefleet_rollout_nodes{{rollout=\"{rollout}\",state=\"";
        try
        {
            using var r = _blockingHttp.Send(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{MetricsPort}/metrics"));
            using var reader = new StreamReader(r.Content.ReadAsStream());
            while (reader.ReadLine() is { } line)
            {
                if (!line.StartsWith(prefix, StringComparison.Ordinal)) continue;
                var end = line.IndexOf('"', prefix.Length);
                result[line[prefix.Length..end]] = (int)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }
        return result;
    }

    /// <summary>nodefleet_connected_agents with a blocking call, for polling loops on a thread of their own; -1 if unanswered.</summary>
    public int ConnectedAgentsBlocking()
    {
        try
        {
            using var r = _blockingHttp.Send(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{MetricsPort}/metrics"));
            using var reader = new StreamReader(r.Content.ReadAsStream());
            while (reader.ReadLine() is { } line)
            {
                if (line.StartsWith("nodefleet_connected_agents ", StringComparison.Ordinal))
                    return (int)double.Parse(line["nodefleet_connected_agents ".Length..], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        _http.Dispose();
        _blockingHttp.Dispose();
        if (_process is { HasExited: false })
        {
            // A graceful stop (SIGTERM), so the database is closed cleanly; then make sure.
            Proc.Signal(_process.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await _process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { _process.Kill(); }
        }
        _process?.Dispose();
    }
}

/// <summary>Reads the lines appended to the coordinator's log file since the last call.</summary>
public sealed class CoordinatorLogFollower : IDisposable
{
    private readonly FileStream _file;
    private readonly StreamReader _reader;
    private string _partial = "";

    public CoordinatorLogFollower(string path)
    {
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        _file.Seek(0, SeekOrigin.End);
        _reader = new StreamReader(_file);
    }

    public IEnumerable<string> NewLines()
    {
        var chunk = _reader.ReadToEnd();
        if (chunk.Length == 0) yield break;
        var text = _partial + chunk;
        var last = text.LastIndexOf('\n');
        _partial = last < 0 ? text : text[(last + 1)..];
        if (last < 0) yield break;
        foreach (var line in text[..last].Split('\n')) yield return line;
    }

    public void Dispose()
    {
        _reader.Dispose();
        _file.Dispose();
    }
}

/// <summary>Disposes each of several at the end of a using block.</summary>
public sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
{
    public void Dispose()
    {
        foreach (var d in items) d.Dispose();
    }
}
