using System.Diagnostics;
using Npgsql;
using NodeFleet.IntegrationTests.Infrastructure;

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
    private readonly string _bin;
    private readonly bool _asRoot = Environment.IsPrivilegedProcess;
    private readonly bool _owned;

    private PostgresCluster(string bin, string dir, int port, string connectionString, bool owned)
    {
        _bin = bin;
        Dir = dir;
        Port = port;
        ConnectionString = connectionString;
        _owned = owned;
    }

    /// <summary>The cluster's directory (data, log, socket); empty for a server given by --postgres.</summary>
    public string Dir { get; }
    public int Port { get; }
    /// <summary>The store setting every coordinator gets (an Npgsql connection string or a postgres:// URL).</summary>
    public string ConnectionString { get; }
    public string LogFile => Path.Combine(Dir, "log");
    /// <summary>The postmaster's PID (its children, the backends, inherit its CPU affinity); 0 for a server given by --postgres.</summary>
    public int Pid => _owned && File.Exists(Path.Combine(Dir, "data", "postmaster.pid"))
        ? int.Parse(File.ReadLines(Path.Combine(Dir, "data", "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture) : 0;

    /// <summary>A server the operator runs: used as given (its database must be empty of NodeFleet tables).</summary>
    public static PostgresCluster External(string connectionString) => new("", "", 0, connectionString, owned: false);

    /// <summary>initdb and pg_ctl start; <paramref name="settings"/> are extra `-c NAME=VALUE` server settings.</summary>
    public static async Task<PostgresCluster> StartAsync(string? cpus, IReadOnlyList<string> settings, TextWriter output)
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderByDescending(b => b, StringComparer.Ordinal).FirstOrDefault()
            : null;
        if (bin is null)
            throw new InvalidOperationException("--store postgres: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin " +
                                                "(apt-get install postgresql), or give a server with --postgres CONNSTRING");
        // Not under the work directory: that one is 0700 root's, and the server runs as postgres.
        var dir = Path.Combine(Path.GetTempPath(), $"nf-fleetsim-pg-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}");
        Directory.CreateDirectory(dir);
        var port = Proc.FreePort();
        var cluster = new PostgresCluster(bin, dir, port, $"Host={dir};Port={port};Username=postgres;Database=fleetsim", owned: true);
        if (cluster._asRoot) await cluster.RunAsync("chown", ["-R", "postgres", dir]);
        await cluster.RunAsync(Path.Combine(bin, "initdb"), ["-D", Path.Combine(dir, "data"), "-U", "postgres", "-E", "UTF8", "--auth-local=trust", "--auth-host=reject"]);
        // Three coordinators with their connection pools, and the tests' margin: more than the default 100 connections.
        var options = $"-p {port} -k {dir} -c listen_addresses= -c max_connections=400 " +
                      string.Join(' ', settings.Select(s => $"-c {s}"));
        var pgCtl = Path.Combine(bin, "pg_ctl");
        string[] start = ["-D", Path.Combine(dir, "data"), "-o", options, "-l", Path.Combine(dir, "log"), "-w", "start"];
        if (cpus is null) await cluster.RunAsync(pgCtl, start);
        else await cluster.RunAsync("taskset", ["-c", cpus, .. cluster.AsPostgres(pgCtl), .. start], already: true);
        await using (var conn = new NpgsqlConnection($"Host={dir};Port={port};Username=postgres;Database=postgres"))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE DATABASE fleetsim", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        output.WriteLine($"PostgreSQL {Path.GetFileName(Path.GetDirectoryName(bin))} on socket {dir} port {port}" +
                         (cpus is null ? "" : $", pinned to CPUs {cpus}") + (settings.Count > 0 ? $", {string.Join(' ', settings)}" : "") + $"; log {cluster.LogFile}");
        return cluster;
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

    private string[] AsPostgres(string file) => _asRoot ? ["runuser", "-u", "postgres", "--", file] : [file];

    private async Task RunAsync(string file, string[] args, bool already = false)
    {
        string[] command = already || file == "chown" ? [file, .. args] : [.. AsPostgres(file), .. args];
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{string.Join(' ', command)} failed ({p.ExitCode}): {await stderr}{await stdout}");
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
        if (!_owned) return;
        NpgsqlConnection.ClearAllPools();
        try { await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(Dir, "data"), "-m", "fast", "-w", "stop"]); }
        catch (InvalidOperationException) { }
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
    }
}
