using Npgsql;
using NodeFleet.Security;

namespace NodeFleet.Tests.TestSupport;

/// <summary>The PostgreSQL tests share one private cluster and run one class at a time.</summary>
[CollectionDefinition(PostgresServer.Collection)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>;

/// <summary>
/// A private PostgreSQL cluster for one test run, from the Debian `postgresql` package (scripts/test.sh installs it):
/// initdb in a temp directory (as the postgres user when the tests run as root, since initdb refuses root), started by
/// pg_ctl on a free port with its socket in that directory, TLS on with a certificate of a CA made here, stopped with
/// -m immediate at the end. The superuser connects over the socket without a password; over TCP every user needs one.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string Collection = "postgres";
    private const string SuperuserPassword = "superuser-password-for-tests";

    private PrivatePostgres? _pg;
    private PrivatePostgres Pg => _pg ?? throw new InvalidOperationException("the PostgreSQL cluster is not started");

    /// <summary>The cluster's directory: its data, log, socket, and the CA's certificate.</summary>
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "nodefleet-pg-" + Guid.NewGuid().ToString("N")[..12]);
    public int Port => Pg.Port;
    /// <summary>The CA that signed the server's certificate (for 127.0.0.1 and localhost), as PEM.</summary>
    public string CaFile => Path.Combine(Dir, "ca.crt");

    private string Superuser(string database) => $"Host={Dir};Port={Port};Username=postgres;Database={database}";

    public async Task InitializeAsync()
    {
        var bin = PrivatePostgres.FindBin()
            ?? throw new InvalidOperationException("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: apt-get install postgresql (scripts/test.sh does)");
        Directory.CreateDirectory(Dir);
        await File.WriteAllTextAsync(Path.Combine(Dir, "pwfile"), SuperuserPassword);
        WriteTlsFiles();
        _pg = new PrivatePostgres(bin, Dir);
        await _pg.InitAsync("--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile", Path.Combine(Dir, "pwfile"));
        await StartAsync();
    }

    /// <summary>Starts the cluster again after <see cref="StopAsync"/>, on the same port.</summary>
    public async Task StartAsync()
    {
        await Pg.StartAsync($"-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off " +
                            $"-c ssl=on -c ssl_cert_file={Dir}/server.crt -c ssl_key_file={Dir}/server.key");
        // The pooled connections of this process went with the server they were open to.
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>Stops the cluster as a crash does (-m immediate): every connection drops, nothing answers until <see cref="StartAsync"/>.</summary>
    public Task StopAsync() => Pg.StopAsync("immediate");

    public async Task DisposeAsync()
    {
        try { if (_pg is not null) await _pg.StopAsync("immediate", wait: false); }
        finally { Directory.Delete(Dir, recursive: true); }
    }
    /// <summary>A new, empty database (owned by <paramref name="owner"/> when given) and a store setting for it as the superuser.</summary>
    public async Task<(string Name, string Setting)> CreateDatabaseAsync(string? owner = null)
    {
        var name = "t" + Guid.NewGuid().ToString("N")[..16];
        await ExecuteAsync("postgres", owner is null ? $"CREATE DATABASE {name}" : $"CREATE DATABASE {name} OWNER {owner}");
        return (name, Superuser(name));
    }

    /// <summary>Creates a login role with <paramref name="password"/> (TCP connections must give it).</summary>
    public Task CreateRoleAsync(string role, string password) =>
        ExecuteAsync("postgres", $"CREATE ROLE {role} LOGIN PASSWORD '{password.Replace("'", "''")}'");

    /// <summary>Runs <paramref name="sql"/> in <paramref name="database"/> as the superuser.</summary>
    public async Task ExecuteAsync(string database, string sql)
    {
        await using var conn = new NpgsqlConnection(Superuser(database));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string database, string sql)
    {
        await using var conn = new NpgsqlConnection(Superuser(database));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private void WriteTlsFiles()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "nodefleet-tests-postgres-ca", TimeSpan.FromDays(2), now);
        using var serverKey = Pki.NewKey();
        using var server = Pki.IssueServing(ca, caKey, serverKey, "localhost", ["localhost", "127.0.0.1"], TimeSpan.FromDays(1), now);
        File.WriteAllText(CaFile, Pki.ToPem(ca));
        File.WriteAllText(Path.Combine(Dir, "server.crt"), Pki.ToPem(server));
        // The server refuses a key that others may read.
        var keyFile = Path.Combine(Dir, "server.key");
        File.WriteAllText(keyFile, Pki.KeyToPem(serverKey));
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
