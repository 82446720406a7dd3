using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace NodeFleet.Tests.TestSupport;

/// <summary>
/// A private PostgreSQL cluster from the Debian `postgresql` package, in a directory of its own (data, log, socket):
/// initdb (as the postgres user when this process is root, since initdb refuses root), pg_ctl start on a free port with
/// its socket in that directory, pg_ctl stop. The tests' <c>PostgresServer</c> and the fleet simulator's
/// <c>PostgresCluster</c> are each one of these with their own settings.
/// </summary>
public sealed class PrivatePostgres
{
    private readonly bool _asRoot = Environment.IsPrivilegedProcess;

    /// <param name="bin">The server binaries' directory (<see cref="FindBin"/>).</param>
    public PrivatePostgres(string bin, string dir)
    {
        Bin = bin;
        Dir = dir;
        Port = FreePort();
    }

    public string Bin { get; }
    public string Dir { get; }
    public int Port { get; }
    public string DataDir => Path.Combine(Dir, "data");
    public string LogFile => Path.Combine(Dir, "log");

    /// <summary>The newest installed server's binaries (/usr/lib/postgresql/VERSION/bin); null when none is installed.</summary>
    public static string? FindBin() => Directory.Exists("/usr/lib/postgresql")
        ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
            .Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderByDescending(b => b, StringComparer.Ordinal).FirstOrDefault()
        : null;

    /// <summary>Makes the cluster: the directory given to the postgres user when root, then initdb with the superuser postgres.</summary>
    public async Task InitAsync(params string[] initdbArgs)
    {
        Directory.CreateDirectory(Dir);
        if (_asRoot) await RunAsync(["chown", "-R", "postgres", Dir]);
        await RunAsync([.. AsPostgres(Path.Combine(Bin, "initdb")), "-D", DataDir, "-U", "postgres", "-E", "UTF8", .. initdbArgs]);
    }

    /// <summary>Starts the server with <paramref name="settings"/> (more postgres options), pinned to <paramref name="cpus"/> when given.</summary>
    public Task StartAsync(string settings, string? cpus = null)
    {
        string[] start = [.. AsPostgres(Path.Combine(Bin, "pg_ctl")), "-D", DataDir, "-o", $"-p {Port} -k {Dir} {settings}", "-l", LogFile, "-w", "start"];
        return RunAsync(cpus is null ? start : ["taskset", "-c", cpus, .. start]);
    }

    /// <summary>pg_ctl stop in <paramref name="mode"/> (fast, immediate), waiting for it when <paramref name="wait"/>.</summary>
    public Task StopAsync(string mode, bool wait = true) =>
        RunAsync([.. AsPostgres(Path.Combine(Bin, "pg_ctl")), "-D", DataDir, "-m", mode, .. wait ? new[] { "-w" } : [], "stop"]);

    private string[] AsPostgres(string file) => _asRoot ? ["runuser", "-u", "postgres", "--", file] : [file];

    private static async Task RunAsync(string[] command)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{string.Join(' ', command)} failed ({p.ExitCode}): {await stderr}{await stdout}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
