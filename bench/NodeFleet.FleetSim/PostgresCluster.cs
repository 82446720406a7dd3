using Npgsql;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.FleetSim;

/// <summary>
/// The PostgreSQL the coordinators share for one run (--store postgres): a private cluster from the Debian `postgresql`
/// package, made with initdb in a directory of its own (as the postgres user when this runs as root: initdb refuses
/// root), started by pg_ctl on a free port with its socket in that directory and PostgreSQL's own durability settings
/// (fsync and synchronous_commit on, unlike the tests' cluster: a benchmark measures committed writes), stopped at the
/// end. Or a server given with --postgres CONNSTRING, whose database must hold no fleet yet.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private readonly PrivatePostgres? _pg;

    private PostgresCluster(PrivatePostgres? pg, string connectionString)
    {
        _pg = pg;
        ConnectionString = connectionString;
    }

    /// <summary>The cluster's directory (data, log, socket); empty for a server given by --postgres.</summary>
    public string Dir => _pg?.Dir ?? "";
    public int Port => _pg?.Port ?? 0;
    /// <summary>The store setting every coordinator gets (an Npgsql connection string or a postgres:// URL).</summary>
    public string ConnectionString { get; }
    public string LogFile => _pg?.LogFile ?? "";
    /// <summary>The postmaster's PID (its children, the backends, inherit its CPU affinity); 0 for a server given by --postgres.</summary>
    public int Pid => _pg is not null && File.Exists(Path.Combine(_pg.DataDir, "postmaster.pid"))
        ? int.Parse(File.ReadLines(Path.Combine(_pg.DataDir, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture) : 0;

    /// <summary>A server the operator runs: used as given (its database must be empty of NodeFleet tables).</summary>
    public static PostgresCluster External(string connectionString) => new(null, connectionString);

    /// <summary>
    /// initdb and pg_ctl start; <paramref name="settings"/> are extra `-c NAME=VALUE` server settings. The server and its
    /// processes run at <paramref name="nice"/> (the coordinators' value; backends started later inherit it).
    /// </summary>
    public static async Task<PostgresCluster> StartAsync(string? cpus, int nice, IReadOnlyList<string> settings, TextWriter output)
    {
        var bin = PrivatePostgres.FindBin()
            ?? throw new InvalidOperationException("--store postgres: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin " +
                                                   "(apt-get install postgresql), or give a server with --postgres CONNSTRING");
        // Not under the work directory: that one is 0700 root's, and the server runs as postgres.
        var pg = new PrivatePostgres(bin, Path.Combine(Path.GetTempPath(), $"nf-fleetsim-pg-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}"));
        await pg.InitAsync("--auth-local=trust", "--auth-host=reject");
        // Three coordinators with their connection pools, and the tests' margin: more than the default 100 connections.
        await pg.StartAsync("-c listen_addresses= -c max_connections=400 " + string.Join(' ', settings.Select(s => $"-c {s}")), cpus);
        var cluster = new PostgresCluster(pg, $"Host={pg.Dir};Port={pg.Port};Username=postgres;Database=fleetsim");
        if (nice != 0) Renice(cluster.Pid, nice);
        await using (var conn = new NpgsqlConnection($"Host={pg.Dir};Port={pg.Port};Username=postgres;Database=postgres"))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE DATABASE fleetsim", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        output.WriteLine($"PostgreSQL {Path.GetFileName(Path.GetDirectoryName(bin))} on socket {pg.Dir} port {pg.Port}" +
                         (cpus is null ? "" : $", pinned to CPUs {cpus}") + (nice != 0 ? $", nice {nice}" : "") +
                         (settings.Count > 0 ? $", {string.Join(' ', settings)}" : "") + $"; log {pg.LogFile}");
        return cluster;
    }

    /// <summary>The parent PID of a process (field 4 of /proc/PID/stat); 0 when it is gone.</summary>
    private static int ParentOf(string? pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException) { return 0; }
    }

    /// <summary>The postmaster and the processes it has started (checkpointer, WAL writer…) to <paramref name="nice"/>.</summary>
    private static void Renice(int postmaster, int nice)
    {
        var children = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName)
            .Where(d => d!.All(char.IsAsciiDigit) && ParentOf(d) == postmaster);
        var psi = new System.Diagnostics.ProcessStartInfo("renice") { RedirectStandardOutput = true };
        foreach (var a in new[] { "-n", nice.ToString(System.Globalization.CultureInfo.InvariantCulture), "-p", postmaster.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(children!))
            psi.ArgumentList.Add(a!);
        using var p = System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException("cannot start renice");
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"renice -n {nice} of PostgreSQL (pid {postmaster}) failed ({p.ExitCode})");
    }

    /// <summary>Runs one query and returns its single value (the run's checks: the outbox left empty).</summary>
    public async Task<long> CountAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(ConnectionString.StartsWith("postgres", StringComparison.Ordinal) ? ToNpgsql(ConnectionString) : ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Only the simple URL form (user, host, port, database) for the checks; the coordinators get the setting as given.</summary>
    private static string ToNpgsql(string url)
    {
        var u = new Uri(url);
        var user = Uri.UnescapeDataString(u.UserInfo.Split(':')[0]);
        var password = u.UserInfo.Contains(':') ? Uri.UnescapeDataString(u.UserInfo[(u.UserInfo.IndexOf(':') + 1)..]) : null;
        var b = new NpgsqlConnectionStringBuilder { Host = u.Host, Port = u.IsDefaultPort || u.Port < 0 ? 5432 : u.Port, Username = user, Database = u.AbsolutePath.Trim('/') };
        if (password is not null) b.Password = password;
        return b.ConnectionString;
    }

    /// <summary>Stops the private cluster as a crash would (SIGQUIT to the postmaster: immediate shutdown).</summary>
    public void StopNow()
    {
        try
        {
            if (Pid is > 0 and var pid) Proc.Signal(pid, 3);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or FormatException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (_pg is null) return;
        NpgsqlConnection.ClearAllPools();
        try { await _pg.StopAsync("fast"); }
        catch (InvalidOperationException) { }
        try { Directory.Delete(_pg.Dir, recursive: true); }
        catch (IOException) { }
    }
}
