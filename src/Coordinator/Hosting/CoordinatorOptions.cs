using System.Collections;
using System.Globalization;
using System.Net;
using System.Text;
using NodeFleet.Config;
using YamlDotNet.Core;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>
/// Settings of `nodefleet-coordinator run`, bound from (lowest to highest precedence) defaults,
/// /etc/nodefleet/coordinator.yaml, NODEFLEET_* environment variables and command-line flags.
/// </summary>
public sealed class CoordinatorOptions
{
    public const string DefaultConfigFile = "/etc/nodefleet/coordinator.yaml";
    public const string EnvironmentPrefix = "NODEFLEET_";

    /// <summary>The settings' names, as written in the config file (and, upper-cased after the prefix, in the environment).</summary>
    public static readonly IReadOnlyList<string> Keys =
        ["listen", "metricsListen", "dataDir", "heartbeatInterval", "maxHeartbeatRate", "maxReconnectRate", "logFormat", "logLevel", "store",
         "connectionFirstByteTimeout", "maxSilentConnectionsPerSource", "maxHandshakesPerSource",
         "retentionEvents", "retentionRunsPerNode", "retentionSweepInterval",
         "nodeCertificateLifetime", "servingCertificateLifetime", "leaseTtl", "coordinators", "reportBatches"];

    public string Listen { get; set; } = "0.0.0.0:7443";
    /// <summary>Plain-HTTP address for /metrics, /healthz and /readyz; "" or "off" serves none of them.</summary>
    public string MetricsListen { get; set; } = "0.0.0.0:7444";
    public string DataDir { get; set; } = DataDirectory.DefaultPath;
    /// <summary>Duration text ("10s"); agents are told this period, and three missed heartbeats mark a node offline.</summary>
    public string HeartbeatInterval { get; set; } = "10s";
    /// <summary>
    /// The most heartbeats a second the coordinator asks for: with more nodes than HeartbeatPeriod × this rate, agents
    /// are told a longer period (nodes / rate seconds). 0 turns the bound off.
    /// </summary>
    public double MaxHeartbeatRate { get; set; } = 100;
    /// <summary>
    /// Reconnections a second the coordinator asks its agents to spread over: after a broken stream each agent waits a
    /// random delay within nodes / this rate seconds (<see cref="Nodes.ReconnectWindow"/>). 0: the shortest window, 1 s.
    /// </summary>
    public double MaxReconnectRate { get; set; } = 200;
    /// <summary>
    /// Whether agents are told (Welcome.features) that they may send their pending reports in batches. On by default;
    /// off, agents send each report alone as with a coordinator that predates batches (to compare the two).
    /// </summary>
    public bool ReportBatches { get; set; } = true;
    public string LogFormat { get; set; } = "text";
    public string LogLevel { get; set; } = "Information";
    /// <summary>
    /// Where the state is kept: "" (or "litedb") for the LiteDB file in the data directory; a postgres:// URL or an
    /// Npgsql key=value string for PostgreSQL (<see cref="Store.Postgres.PostgresConnection"/>). May hold a password:
    /// never shown as given.
    /// </summary>
    public string Store { get; set; } = "";

    /// <summary>Whether <see cref="Store"/> names PostgreSQL rather than the embedded LiteDB file.</summary>
    public bool UsesPostgres => StoreSetting.IsPostgres(Store);
    /// <summary>Duration text: a connection that sends no byte within it is dropped before it takes a handshake slot.</summary>
    public string ConnectionFirstByteTimeout { get; set; } = "5s";
    /// <summary>Connections one source address may hold open without sending a byte; a newer one drops the oldest.</summary>
    public int MaxSilentConnectionsPerSource { get; set; } = 256;
    /// <summary>TLS handshakes one source address may run at once; 0: half of all handshake slots.</summary>
    public int MaxHandshakesPerSource { get; set; }
    /// <summary>
    /// Duration text: events older than this are deleted. 90 days of a 10,000-node fleet (a few events per node per
    /// rollout, a rollout a week, plus joins and presence changes) is well under a million events.
    /// </summary>
    public string RetentionEvents { get; set; } = "90d";
    /// <summary>Plan runs kept per node, newest first (runs of an active rollout are kept whatever their number).</summary>
    public int RetentionRunsPerNode { get; set; } = 100;
    /// <summary>Duration text: how often old events and runs are swept.</summary>
    public string RetentionSweepInterval { get; set; } = "1h";

    /// <summary>
    /// Duration text: how long the singleton lease (rollouts, offline detection, token expiry, retention) outlives its
    /// holder's last renewal; with several coordinators on PostgreSQL, another takes the work over within it.
    /// </summary>
    public string LeaseTtl { get; set; } = "15s";

    /// <summary><see cref="LeaseTtl"/>, parsed (after <see cref="Validate"/>).</summary>
    public TimeSpan LeaseTtlSpan => Durations.Parse(LeaseTtl);

    /// <summary>The retention settings, parsed (after <see cref="Validate"/>).</summary>
    public Store.RetentionSettings Retention =>
        new(Durations.Parse(RetentionEvents), RetentionRunsPerNode, Durations.Parse(RetentionSweepInterval));

    /// <summary>Duration text: how long a node certificate issued at join or renewal is valid; agents renew at 70–90 % of it.</summary>
    public string NodeCertificateLifetime { get; set; } = "30d";
    /// <summary>
    /// Duration text: how long a serving certificate the coordinator issues itself is valid; it renews the one it serves
    /// at 70–90 % of that certificate's lifetime, or of this one when it is shorter.
    /// </summary>
    public string ServingCertificateLifetime { get; set; } = "365d";

    /// <summary>
    /// The fleet's coordinators as agents reach them (HOST[:PORT],… the same on each coordinator): told to every agent in
    /// its welcome, kept in its agent.yaml, and tried in turn when its coordinator is gone. "": agents keep the addresses
    /// they joined with.
    /// </summary>
    public string Coordinators { get; set; } = "";

    /// <summary><see cref="Coordinators"/>, parsed (after <see cref="Validate"/>).</summary>
    public IReadOnlyList<string> CoordinatorAddresses => NodeFleet.Net.CoordinatorAddressList.Parse(Coordinators);

    public TimeSpan FirstByteTimeout => Durations.Parse(ConnectionFirstByteTimeout);

    public TimeSpan NodeCertificateValidity => Durations.Parse(NodeCertificateLifetime);

    public TimeSpan ServingCertificateValidity => Durations.Parse(ServingCertificateLifetime);

    public TimeSpan HeartbeatPeriod => Durations.Parse(HeartbeatInterval);

    /// <summary>The metrics endpoint, or null when it is turned off.</summary>
    public IPEndPoint? MetricsEndpoint
    {
        get
        {
            var text = MetricsListen.Trim();
            if (text.Length == 0 || text.Equals("off", StringComparison.OrdinalIgnoreCase)) return null;
            try { return ParseListen(text); }
            catch (StartupException e) { throw new StartupException($"metricsListen: {e.Message} (or \"off\")"); }
        }
    }

    /// <summary>
    /// Reads the settings: defaults, then <paramref name="configFile"/> (or <see cref="DefaultConfigFile"/> when it
    /// exists), then NODEFLEET_* variables of <paramref name="environment"/>, then <paramref name="overrides"/> (the
    /// command line, keyed by setting name in any case). A file that cannot be read or used fails naming the file and
    /// line; an unknown key in it is refused, as in every NodeFleet config file. The result is not yet validated.
    /// </summary>
    public static CoordinatorOptions Load(string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary environment)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (configFile is not null && configFile.Trim().Length == 0) throw new StartupException("--config is empty");
        var file = configFile ?? DefaultConfigFile;
        if (configFile is not null || File.Exists(file) || Directory.Exists(file))
        {
            foreach (var (k, v) in ReadFile(file)) values[k] = v;
        }
        // Environment variable names are matched regardless of case, as Microsoft.Extensions.Configuration does;
        // other NODEFLEET_* variables (the CLI's NODEFLEET_CONFIG, for one) are not the coordinator's and are ignored.
        foreach (DictionaryEntry e in environment)
        {
            if (e.Key is not string name || e.Value is not string value ||
                !name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)) continue;
            var key = Keys.FirstOrDefault(k => k.Equals(name[EnvironmentPrefix.Length..], StringComparison.OrdinalIgnoreCase));
            if (key is not null) values[key] = value;
        }
        foreach (var (k, v) in overrides)
        {
            if (v is not null) values[k] = v;
        }

        var o = new CoordinatorOptions();
        string? Get(string key) => values.TryGetValue(key, out var v) ? v : null;
        if (Get("listen") is { } listen) o.Listen = listen;
        if (Get("metricsListen") is { } metrics) o.MetricsListen = metrics;
        if (Get("dataDir") is { } dataDir) o.DataDir = dataDir;
        if (Get("heartbeatInterval") is { } hb) o.HeartbeatInterval = hb;
        if (Get("maxHeartbeatRate") is { } rate)
        {
            if (!double.TryParse(rate.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var r))
                throw new StartupException($"maxHeartbeatRate '{rate}' is not a number: give heartbeats per second, at least 0 (0: no bound)");
            o.MaxHeartbeatRate = r;
        }
        if (Get("maxReconnectRate") is { } reconnectRate)
        {
            if (!double.TryParse(reconnectRate.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var r))
                throw new StartupException($"maxReconnectRate '{reconnectRate}' is not a number: give reconnections per second, at least 0 (0: no spreading)");
            o.MaxReconnectRate = r;
        }
        if (Get("connectionFirstByteTimeout") is { } firstByte) o.ConnectionFirstByteTimeout = firstByte;
        if (Get("maxSilentConnectionsPerSource") is { } silent) o.MaxSilentConnectionsPerSource = Count("maxSilentConnectionsPerSource", silent);
        if (Get("maxHandshakesPerSource") is { } handshakes) o.MaxHandshakesPerSource = Count("maxHandshakesPerSource", handshakes);
        if (Get("retentionEvents") is { } keepEvents) o.RetentionEvents = keepEvents;
        if (Get("retentionRunsPerNode") is { } keepRuns)
            o.RetentionRunsPerNode = int.TryParse(keepRuns.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var k)
                ? k : throw new StartupException($"retentionRunsPerNode '{keepRuns}' is not a whole number of runs");
        if (Get("retentionSweepInterval") is { } sweep) o.RetentionSweepInterval = sweep;
        if (Get("logFormat") is { } format) o.LogFormat = format;
        if (Get("logLevel") is { } level) o.LogLevel = level;
        if (Get("store") is { } store) o.Store = store;
        if (Get("nodeCertificateLifetime") is { } nodeLifetime) o.NodeCertificateLifetime = nodeLifetime;
        if (Get("servingCertificateLifetime") is { } servingLifetime) o.ServingCertificateLifetime = servingLifetime;
        if (Get("leaseTtl") is { } leaseTtl) o.LeaseTtl = leaseTtl;
        if (Get("coordinators") is { } coordinators) o.Coordinators = coordinators;
        if (Get("reportBatches") is { } batches)
            o.ReportBatches = batches.Trim().ToLowerInvariant() switch
            {
                "true" or "on" => true,
                "false" or "off" => false,
                _ => throw new StartupException($"reportBatches '{batches}' is not one of: true, false"),
            };
        return o;
    }

    private static int Count(string key, string text) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new StartupException($"{key} '{text}' is not a whole number of connections");

    /// <summary>The settings in a coordinator.yaml; every failure names the file, and the line where there is one.</summary>
    internal static Dictionary<string, string> ReadFile(string path)
    {
        if (Directory.Exists(path)) throw new StartupException($"config file {path} is a directory");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new StartupException($"config file {path} does not exist"); }
        catch (DirectoryNotFoundException) { throw new StartupException($"config file {path} does not exist"); }
        catch (UnauthorizedAccessException) { throw new StartupException($"cannot read config file {path}: permission denied"); }
        catch (IOException e) { throw new StartupException($"cannot read config file {path}: {e.Message}"); }

        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException e)
        {
            throw new StartupException($"{path}:{LineAt(bytes, e.Index)}: not a text file (byte 0x{bytes[Math.Max(0, e.Index)]:x2} is not UTF-8)");
        }
        if (text.StartsWith('\uFEFF')) text = text[1..];
        if (text.IndexOf('\0') is var nul and >= 0)
            throw new StartupException($"{path}:{LineAt(bytes, Encoding.UTF8.GetByteCount(text.AsSpan(0, nul)))}: not a text file (it holds NUL bytes)");

        try { return FlatYaml.Read(text, new HashSet<string>(Keys, StringComparer.OrdinalIgnoreCase)) ?? []; }
        catch (YamlException e)
        {
            throw new StartupException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}");
        }
    }

    /// <summary>The 1-based line of byte <paramref name="index"/>.</summary>
    private static int LineAt(byte[] bytes, int index) =>
        1 + bytes.AsSpan(0, Math.Clamp(index, 0, bytes.Length)).Count((byte)'\n');

    /// <summary>Checks every setting, naming the one that is wrong.</summary>
    public void Validate()
    {
        if (DataDir.Trim().Length == 0) throw new StartupException("dataDir is empty");
        var listen = ParseListen(Listen);
        // Requests are routed to the metrics endpoint by the port they arrive on, so the two ports must differ.
        if (MetricsEndpoint is { } metrics && metrics.Port == listen.Port)
            throw new StartupException($"metricsListen {MetricsListen} must use another port than listen {Listen}");
        TimeSpan hb;
        try { hb = HeartbeatPeriod; }
        catch (FormatException e) { throw new StartupException($"heartbeatInterval: {e.Message}"); }
        if (hb < TimeSpan.FromMilliseconds(100)) throw new StartupException("heartbeatInterval must be at least 100ms");
        // Agents run their heartbeat on a timer, which holds at most about 49 days; a day already means a dead node
        // goes unnoticed for three.
        if (hb > TimeSpan.FromHours(24)) throw new StartupException($"heartbeatInterval {HeartbeatInterval.Trim()} must be at most 24h");
        if (!double.IsFinite(MaxHeartbeatRate) || MaxHeartbeatRate < 0)
            throw new StartupException($"maxHeartbeatRate {MaxHeartbeatRate} must be a number of heartbeats per second, at least 0 (0: no bound)");
        if (!double.IsFinite(MaxReconnectRate) || MaxReconnectRate < 0)
            throw new StartupException($"maxReconnectRate {MaxReconnectRate} must be a number of reconnections per second, at least 0 (0: no spreading)");
        TimeSpan firstByte;
        try { firstByte = FirstByteTimeout; }
        catch (FormatException e) { throw new StartupException($"connectionFirstByteTimeout: {e.Message}"); }
        // A client sends its TLS ClientHello as soon as it connects; a second is plenty even on a slow link.
        if (firstByte < TimeSpan.FromSeconds(1) || firstByte > TimeSpan.FromMinutes(5))
            throw new StartupException($"connectionFirstByteTimeout {ConnectionFirstByteTimeout.Trim()} must be between 1s and 5m");
        if (MaxSilentConnectionsPerSource < 1)
            throw new StartupException($"maxSilentConnectionsPerSource {MaxSilentConnectionsPerSource} must be at least 1");
        if (LogFormat is not ("text" or "json")) throw new StartupException($"logFormat '{LogFormat}' is not one of: text, json");
        if (!Enum.TryParse<Serilog.Events.LogEventLevel>(LogLevel, ignoreCase: true, out var level) ||
            !Enum.IsDefined(level) || int.TryParse(LogLevel, out _))
            throw new StartupException($"logLevel '{LogLevel}' is not one of: {string.Join(", ", Enum.GetNames<Serilog.Events.LogEventLevel>())}");
        StoreSetting.Check(Store);
        foreach (var (key, text) in new[] { ("retentionEvents", RetentionEvents), ("retentionSweepInterval", RetentionSweepInterval) })
        {
            TimeSpan d;
            try { d = Durations.Parse(text); }
            catch (FormatException e) { throw new StartupException($"{key}: {e.Message}"); }
            if (d < TimeSpan.FromSeconds(1)) throw new StartupException($"{key} {text.Trim()} must be at least 1s");
        }
        if (RetentionRunsPerNode < 1) throw new StartupException($"retentionRunsPerNode {RetentionRunsPerNode} must be at least 1");
        CheckLifetime("nodeCertificateLifetime", NodeCertificateLifetime);
        CheckLifetime("servingCertificateLifetime", ServingCertificateLifetime);
        TimeSpan ttl;
        try { ttl = LeaseTtlSpan; }
        catch (FormatException e) { throw new StartupException($"leaseTtl: {e.Message}"); }
        // Renewed every third of it: shorter than 3s, a busy database could make a holder lose it for nothing.
        if (ttl < TimeSpan.FromSeconds(3) || ttl > TimeSpan.FromMinutes(10))
            throw new StartupException($"leaseTtl {LeaseTtl.Trim()} must be between 3s and 10m");
        try { _ = CoordinatorAddresses; }
        catch (FormatException e) { throw new StartupException($"coordinators: {e.Message}"); }
    }

    /// <summary>
    /// A certificate lifetime: at least a minute (renewal happens at 70–90 % of it, and a clock a few seconds off must not
    /// find a fresh certificate expired), at most ten years (the CA's own validity, which no certificate outlives).
    /// </summary>
    private static void CheckLifetime(string key, string text)
    {
        TimeSpan lifetime;
        try { lifetime = Durations.Parse(text); }
        catch (FormatException e) { throw new StartupException($"{key}: {e.Message}"); }
        if (lifetime < TimeSpan.FromMinutes(1) || lifetime > TimeSpan.FromDays(3650))
            throw new StartupException($"{key} {text.Trim()} must be between 1m and 3650d");
    }

    public static IPEndPoint ParseListen(string listen)
    {
        if (IPEndPoint.TryParse(listen, out var ep) && ep.Port != 0) return ep;
        var colon = listen.LastIndexOf(':');
        if (colon > 0 && listen[..colon] == "localhost" && int.TryParse(listen[(colon + 1)..], out var port) && port is > 0 and < 65536)
            return new IPEndPoint(IPAddress.Loopback, port);
        throw new StartupException($"listen address '{listen}' must be IP:PORT (e.g. 0.0.0.0:7443, 127.0.0.1:7443, [::]:7443)");
    }
}
