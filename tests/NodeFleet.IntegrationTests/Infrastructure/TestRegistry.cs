using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>One request from the registry's access log: <c>"GET /v2/pause/manifests/3.10?ns=registry.k8s.io" 200</c>.</summary>
public sealed record RegistryRequest(string Method, string Path, int Status, long Bytes, string UserAgent)
{
    public override string ToString() => $"{Method} {Path} {Status}";
}

/// <summary>
/// A real OCI registry (distribution's <c>docker-registry serve</c>, Debian package docker-registry) on a free loopback
/// port, plain HTTP, storage in its own scratch directory. It can be stopped (kill -9, as a registry going away
/// mid-phase) and restarted on the same port with the same content. Every request is logged; <see cref="Requests"/>
/// parses the access log.
/// </summary>
/// <example>
/// <code>
/// await using var registry = await TestRegistry.StartNewAsync();
/// await TestImages.PushSmallAsync(registry, "pause", "3.10");
/// ... pull registry.k8s.io/pause:3.10 through a mirror entry for registry.Url ...
/// Assert.NotEmpty(registry.Requests("/v2/pause/manifests/").Where(r =&gt; r.Path.Contains("ns=registry.k8s.io")));
/// </code>
/// </example>
public sealed partial class TestRegistry : IAsyncDisposable
{
    public const string Binary = "/usr/bin/docker-registry";

    private readonly TempDir _dir = new("nf-registry");
    private readonly StringBuilder _earlierLogs = new();
    private BackgroundProc? _process;

    public TestRegistry()
    {
        Port = Proc.FreePort();
    }

    public int Port { get; }

    /// <summary>"127.0.0.1:PORT" — the registry part of image references pushed here.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>"http://127.0.0.1:PORT" — for hosts.toml, registry mirrors and HTTP requests.</summary>
    public string Url => $"http://{Address}";

    /// <summary>Where the registry keeps blobs and manifests (kept across <see cref="RestartAsync"/>).</summary>
    public string StorageDirectory => _dir.Combine("storage");

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything the registry has logged, over all its starts.</summary>
    public string Log
    {
        get
        {
            lock (_earlierLogs) return _earlierLogs + (_process?.Output ?? "");
        }
    }

    /// <summary>A new registry, started and answering <c>GET /v2/</c>.</summary>
    public static async Task<TestRegistry> StartNewAsync()
    {
        var registry = new TestRegistry();
        try
        {
            await registry.StartAsync();
            return registry;
        }
        catch
        {
            await registry.DisposeAsync();
            throw;
        }
    }

    public async Task StartAsync()
    {
        if (IsRunning) throw new InvalidOperationException($"the registry on {Address} is already running");
        if (!File.Exists(Binary))
            throw new FileNotFoundException($"{Binary} is missing: scripts/test.sh installs it (apt-get install docker-registry)");
        Directory.CreateDirectory(StorageDirectory);
        var config = _dir.Combine("config.yml");
        // A fixed http.secret keeps upload state valid across a restart; no cache, so what is served is what is on disk.
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: info
              formatter: text
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: {StorageDirectory}
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: {Address}
              secret: nodefleet-test-registry
            """);
        if (_process is not null)
        {
            lock (_earlierLogs) _earlierLogs.Append(_process.Output);
            await _process.DisposeAsync();
            _process = null;
        }
        var process = Proc.Start(Binary, ["serve", config]);
        _process = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Proc.WaitUntilAsync(async () =>
        {
            if (process.HasExited) return true;
            try
            {
                using var response = await http.GetAsync($"{Url}/v2/");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException) { return false; }
            catch (TaskCanceledException) { return false; }
        }, TimeSpan.FromSeconds(20), $"the registry on {Address} to answer GET /v2/; log:\n{Log}");
        if (process.HasExited) throw new InvalidOperationException($"the registry on {Address} exited: {process.Output}");
    }

    /// <summary>kill -9: the registry disappears (connections refused) until <see cref="StartAsync"/> or <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (_process is not null) await _process.KillHardAsync();
    }

    /// <summary>Stop, then start again on the same port with the same storage.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    /// <summary>All requests in the access log, in order.</summary>
    public IReadOnlyList<RegistryRequest> AllRequests =>
        AccessLine().Matches(Log).Select(m => new RegistryRequest(m.Groups["method"].Value, m.Groups["path"].Value,
            int.Parse(m.Groups["status"].Value, CultureInfo.InvariantCulture),
            m.Groups["bytes"].Value == "-" ? 0 : long.Parse(m.Groups["bytes"].Value, CultureInfo.InvariantCulture),
            m.Groups["agent"].Value)).ToList();

    /// <summary>
    /// The requests whose path (with its query) contains <paramref name="pathContains"/>. A containerd pull of
    /// registry.k8s.io/pause:3.10 through a mirror shows as <c>HEAD /v2/pause/manifests/3.10?ns=registry.k8s.io</c>
    /// (resolve), then <c>GET /v2/pause/manifests/sha256:…?ns=registry.k8s.io</c> and GETs of the blobs.
    /// </summary>
    public IReadOnlyList<RegistryRequest> Requests(string pathContains) =>
        AllRequests.Where(r => r.Path.Contains(pathContains, StringComparison.Ordinal)).ToList();

    // The access log is Apache combined format on stdout:
    // 127.0.0.1 - - [25/Nov/2026:23:25:44 +0000] "GET /v2/pause/manifests/3.10?ns=registry.k8s.io HTTP/1.1" 200 345 "" "curl/7.88.1"
    [GeneratedRegex("""^\S+ \S+ \S+ \[[^\]]*\] "(?<method>[A-Z]+) (?<path>\S+) HTTP/[0-9.]+" (?<status>[0-9]{3}) (?<bytes>[0-9]+|-) "[^"]*" "(?<agent>[^"]*)"\s*$""",
        RegexOptions.Multiline)]
    private static partial Regex AccessLine();

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        _dir.Dispose();
    }
}
