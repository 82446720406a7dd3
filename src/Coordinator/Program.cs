using System.CommandLine;
using NodeFleet;
using NodeFleet.Coordinator.Commands;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Logging;
using Serilog;
using Serilog.Events;

// Until `run` has read its settings, a bug found on the way is still logged (Unexpected, below).
Log.Logger = LogSetup.Configure(new LoggerConfiguration(), "text", LogEventLevel.Information).CreateLogger();

var dataDir = new Option<string>("--data-dir") { Description = $"Data directory (default {DataDirectory.DefaultPath})" };
var sans = new Option<string[]>("--cert-extra-sans")
{
    Description = "Extra DNS names or IPs for the serving certificate (comma-separated or repeated)",
    AllowMultipleArgumentsPerToken = true,
};
var advertise = new Option<string>("--advertise-address") { Description = "HOST[:PORT] nodes use to reach the coordinator (default: first IPv4 address, port 7443)" };
const string storeHelp = "Where the coordinator keeps its state: a postgres:// URL or an Npgsql key=value string " +
    "(PostgreSQL; the password from a file, see the README), or empty for the LiteDB file in the data directory (default)";
var initStore = new Option<string>("--store") { Description = storeHelp };
var joinStore = new Option<bool>("--join-store")
{
    Description = "Add this coordinator to the fleet the PostgreSQL --store already holds: only its own serving certificate, from the fleet's CA",
};
var init = new Command("init", "Create the data directory: CA, serving and admin certificates, admin.conf and the database");
init.Options.Add(dataDir);
init.Options.Add(initStore);
init.Options.Add(joinStore);
init.Options.Add(sans);
init.Options.Add(advertise);
init.SetAction(p => Guard(() =>
{
    CheckNotEmpty("--data-dir", p.GetValue(dataDir));
    return Task.FromResult(InitCommand.Run(new InitCommand.Settings(
        p.GetValue(dataDir) ?? DataDirectory.DefaultPath,
        SplitList(p.GetValue(sans)),
        p.GetValue(advertise),
        p.GetValue(initStore) ?? Environment.GetEnvironmentVariable(CoordinatorOptions.EnvironmentPrefix + "STORE") ?? "",
        p.GetValue(joinStore)),
        Console.Out, TimeProvider.System));
}));

var reissueDataDir = new Option<string>("--data-dir") { Description = $"Data directory (default {DataDirectory.DefaultPath})" };
var reissueSans = new Option<string[]>("--cert-extra-sans")
{
    Description = "More DNS names or IPs, besides those of the certificate it replaces (comma-separated or repeated)",
    AllowMultipleArgumentsPerToken = true,
};
var reissue = new Command("reissue-serving-cert",
    "Issue a new serving key and certificate from the CA (serving.key lost, or the certificate about to expire); run it as the coordinator's user");
reissue.Options.Add(reissueDataDir);
reissue.Options.Add(reissueSans);
var reissueStore = new Option<string>("--store") { Description = "The fleet's store, when it is PostgreSQL (the CA is kept there)" };
reissue.Options.Add(reissueStore);
reissue.SetAction(p => Guard(() =>
{
    CheckNotEmpty("--data-dir", p.GetValue(reissueDataDir));
    return Task.FromResult(ReissueServingCertCommand.Run(new ReissueServingCertCommand.Settings(
        p.GetValue(reissueDataDir) ?? DataDirectory.DefaultPath, SplitList(p.GetValue(reissueSans)),
        p.GetValue(reissueStore) ?? Environment.GetEnvironmentVariable(CoordinatorOptions.EnvironmentPrefix + "STORE") ?? ""),
        Console.Out, TimeProvider.System));
}));

var runDataDir = new Option<string>("--data-dir") { Description = $"Data directory (default {DataDirectory.DefaultPath})" };
var listen = new Option<string>("--listen") { Description = "HOST:PORT to serve on (default 0.0.0.0:7443)" };
var metricsListen = new Option<string>("--metrics-listen") { Description = "HOST:PORT for plain-HTTP /metrics, /healthz and /readyz (default 0.0.0.0:7444; \"off\" to disable)" };
var config = new Option<string>("--config") { Description = $"Config file (default {CoordinatorOptions.DefaultConfigFile}, optional)" };
var heartbeat = new Option<string>("--heartbeat-interval") { Description = "Heartbeat period told to agents (default 10s)" };
var maxHeartbeatRate = new Option<string>("--max-heartbeat-rate")
{
    Description = "Heartbeats per second the coordinator asks for at most: a larger fleet is told a longer period (default 100; 0: no bound)",
};
var logFormat = new Option<string>("--log-format") { Description = "text (default) or json" };
var runStore = new Option<string>("--store") { Description = storeHelp };
var nodeCertLifetime = new Option<string>("--node-certificate-lifetime")
{
    Description = "How long node certificates issued at join and renewal are valid; agents renew at 70-90 % of it (default 30d)",
};
var servingCertLifetime = new Option<string>("--serving-certificate-lifetime")
{
    Description = "How long serving certificates the coordinator renews itself are valid (default 365d)",
};
var leaseTtl = new Option<string>("--lease-ttl")
{
    Description = "With several coordinators on PostgreSQL: how long the singleton lease (rollouts, offline detection, token expiry, retention) outlives its holder (default 15s)",
};
var run = new Command("run", "Serve the coordinator");
// Hidden, for tests only: the clock rollouts and maintenance windows decide by (RolloutClock).
var testOnlyRolloutClock = new Option<string>("--test-only-rollout-clock") { Hidden = true, Description = "Tests only: FAKE_START,REAL_ANCHOR,SPEED" };
foreach (var o in new Option[] { runDataDir, listen, metricsListen, config, heartbeat, maxHeartbeatRate, logFormat, runStore, nodeCertLifetime, servingCertLifetime, leaseTtl, testOnlyRolloutClock })
    run.Options.Add(o);
run.SetAction((p, ct) => Guard(async () =>
{
    CheckNotEmpty("--data-dir", p.GetValue(runDataDir));
    var overrides = new Dictionary<string, string?>();
    void Set(string key, Option<string> o) { if (p.GetValue(o) is { } v) overrides[key] = v; }
    Set(nameof(CoordinatorOptions.DataDir), runDataDir);
    Set(nameof(CoordinatorOptions.Listen), listen);
    Set(nameof(CoordinatorOptions.MetricsListen), metricsListen);
    Set(nameof(CoordinatorOptions.HeartbeatInterval), heartbeat);
    Set(nameof(CoordinatorOptions.MaxHeartbeatRate), maxHeartbeatRate);
    Set(nameof(CoordinatorOptions.LogFormat), logFormat);
    Set(nameof(CoordinatorOptions.Store), runStore);
    Set(nameof(CoordinatorOptions.NodeCertificateLifetime), nodeCertLifetime);
    Set(nameof(CoordinatorOptions.ServingCertificateLifetime), servingCertLifetime);
    Set(nameof(CoordinatorOptions.LeaseTtl), leaseTtl);
    await using var app = CoordinatorHost.Build(p.GetValue(config), overrides, p.GetValue(testOnlyRolloutClock));
    await app.RunAsync(ct);
    // 0 after a normal stop; set when the coordinator stopped itself because of a failure (CoordinatorHost).
    return Environment.ExitCode;
}));

var backupDataDir = new Option<string>("--data-dir") { Description = $"Data directory whose admin.conf reaches the coordinator (default {DataDirectory.DefaultPath})" };
var backupTo = new Option<string>("--to") { Description = "File to write the backup to (written 0600)", Required = true };
var backupAdminConf = new Option<string>("--admin-conf") { Description = "admin.conf to connect with (default: the data directory's)" };
var backup = new Command("backup",
    "Copy the running coordinator's database, whole and consistent, to a file (LiteDB store; use pg_dump for PostgreSQL)");
backup.Options.Add(backupDataDir);
backup.Options.Add(backupTo);
backup.Options.Add(backupAdminConf);
backup.SetAction((p, ct) => Guard(() =>
{
    CheckNotEmpty("--data-dir", p.GetValue(backupDataDir));
    return BackupCommand.RunAsync(new BackupCommand.Settings(p.GetValue(backupDataDir) ?? DataDirectory.DefaultPath,
        p.GetValue(backupTo) ?? "", p.GetValue(backupAdminConf)), Console.Out, ct);
}));

var restoreDataDir = new Option<string>("--data-dir") { Description = $"Data directory to restore into (default {DataDirectory.DefaultPath})" };
var restoreFrom = new Option<string>("--from") { Description = "Backup file written by `backup`", Required = true };
var restore = new Command("restore",
    "Put a backup in place as the data directory's database; refused while a coordinator runs on it, and the file is checked first");
restore.Options.Add(restoreDataDir);
restore.Options.Add(restoreFrom);
restore.SetAction(p => Guard(() =>
{
    CheckNotEmpty("--data-dir", p.GetValue(restoreDataDir));
    return Task.FromResult(RestoreCommand.Run(new RestoreCommand.Settings(p.GetValue(restoreDataDir) ?? DataDirectory.DefaultPath,
        p.GetValue(restoreFrom) ?? ""), Console.Out, TimeProvider.System));
}));

var migrateFrom = new Option<string>("--from") { Description = "Data directory whose LiteDB database to copy (default " + DataDirectory.DefaultPath + ")" };
var migrateTo = new Option<string>("--to") { Description = "The empty PostgreSQL database to copy it into (postgres://USER:PASSWORD@HOST/DB or key=value)", Required = true };
var migrate = new Command("migrate-store",
    "Copy a LiteDB data directory's state into an empty PostgreSQL database, checking every table's count; refused while a coordinator runs on the directory");
migrate.Options.Add(migrateFrom);
migrate.Options.Add(migrateTo);
migrate.SetAction(p => Guard(() =>
{
    CheckNotEmpty("--from", p.GetValue(migrateFrom));
    return MigrateStoreCommand.RunAsync(new MigrateStoreCommand.Settings(p.GetValue(migrateFrom) ?? DataDirectory.DefaultPath, p.GetValue(migrateTo) ?? ""), Console.Out);
}));

var root = new RootCommand($"NodeFleet coordinator {BuildInfo.Version}");
root.Subcommands.Add(migrate);
root.Subcommands.Add(backup);
root.Subcommands.Add(restore);
root.Subcommands.Add(init);
root.Subcommands.Add(run);
root.Subcommands.Add(reissue);
return await root.Parse(args).InvokeAsync();

static List<string> SplitList(string[]? values) =>
    (values ?? []).SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

static void CheckNotEmpty(string flag, string? value)
{
    if (value is not null && value.Trim().Length == 0) throw new StartupException($"{flag} is empty");
}

// Every command's failures: a condition the operator can fix is one `error:` line and exit code 1; anything else is a
// bug, logged with its trace.
static async Task<int> Guard(Func<Task<int>> action)
{
    try { return await action(); }
    catch (Exception e) when (StartupErrors.Describe(e) is { } message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }
    catch (Exception e)
    {
        return Unexpected(e);
    }
    finally
    {
        await Log.CloseAndFlushAsync();
    }
}

static int Unexpected(Exception e)
{
    Log.Fatal(e, "Unexpected {Type}: {Message}", e.GetType().FullName, e.Message);
    Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: {e.Message} (a bug in nodefleet-coordinator {BuildInfo.Version}; its trace is in the log)");
    return 70; // EX_SOFTWARE
}
