using System.Collections;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.Postgres;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>Reaching PostgreSQL as an operator sets it up: a password from a file, TLS, and one-line errors without the password.</summary>
[Collection(PostgresServer.Collection)]
public sealed class PostgresConnectionTests(PostgresServer server) : IDisposable
{
    private const string Password = "fleet-password-0123";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<string> FleetDatabaseAsync()
    {
        // Roles are the cluster's: made once for the run, whichever test comes first.
        await server.ExecuteAsync("postgres",
            $"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleet') THEN CREATE ROLE fleet LOGIN PASSWORD '{Password}'; END IF; END $$");
        return (await server.CreateDatabaseAsync(owner: "fleet")).Name;
    }

    [Fact]
    public async Task A_url_with_a_password_file_connects_over_tls_verified_against_the_given_root_certificate()
    {
        var db = await FleetDatabaseAsync();
        var file = _dir.File("password");
        await File.WriteAllTextAsync(file, Password + "\n");
        var url = $"postgres://fleet@127.0.0.1:{server.Port}/{db}?sslmode=verify-full&sslrootcert={Uri.EscapeDataString(server.CaFile)}&password_file={Uri.EscapeDataString(file)}";

        await using (var store = await PostgresStore.OpenAsync(url))
        {
            await store.WriteAsync(s => s.Plans.Insert(new PlanRecord { Name = "p" }));
            Assert.NotNull(store.Plans.Get("p"));
            Assert.Equal($"postgres://fleet@127.0.0.1:{server.Port}/{db}", store.Display);
            // The store's connections (kept in its pool) are the fleet role's, all encrypted.
            Assert.Equal("1/1", await server.ScalarAsync<string>("postgres",
                "SELECT sign(count(*))::text || '/' || sign(count(*) FILTER (WHERE s.ssl))::text FROM pg_stat_activity a " +
                $"JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'fleet' AND a.datname = '{db}'"));
        }

        // A root certificate that did not sign the server's: refused, naming TLS.
        var otherCa = _dir.File("other-ca.crt");
        using (var key = NodeFleet.Security.Pki.NewKey())
        using (var ca = NodeFleet.Security.Pki.CreateCa(key, "someone-else", TimeSpan.FromDays(1), DateTimeOffset.UtcNow))
            await File.WriteAllTextAsync(otherCa, NodeFleet.Security.Pki.ToPem(ca));
        var e = Assert.Throws<StartupException>(() => StoreSetting.OpenPostgres(url.Replace(Uri.EscapeDataString(server.CaFile), Uri.EscapeDataString(otherCa))));
        Assert.StartsWith($"store: postgres://fleet@127.0.0.1:{server.Port}/{db}: ", e.Message);
        Assert.Contains("TLS", e.Message);
    }

    [Fact]
    public async Task A_key_value_string_takes_a_pgpass_file_or_a_password_file()
    {
        var db = await FleetDatabaseAsync();
        var pgpass = _dir.File("pgpass");
        await File.WriteAllTextAsync(pgpass, $"127.0.0.1:{server.Port}:{db}:fleet:{Password}\n");
        File.SetUnixFileMode(pgpass, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var basic = $"Host=127.0.0.1;Port={server.Port};Database={db};Username=fleet;SSL Mode=Disable";
        await using (var store = await PostgresStore.OpenAsync($"{basic};Passfile={pgpass}"))
            Assert.Null(store.Cluster.Get());

        var file = _dir.File("password");
        await File.WriteAllTextAsync(file, Password);
        await using (var store = await PostgresStore.OpenAsync($"{basic};Password File={file}"))
            Assert.Null(store.Cluster.Get());
    }

    [Fact]
    public async Task A_wrong_password_is_one_error_line_naming_the_store_and_user_without_the_password()
    {
        var db = await FleetDatabaseAsync();
        var e = Assert.Throws<StartupException>(() =>
            StoreSetting.OpenPostgres($"postgres://fleet:wrong-secret-77@127.0.0.1:{server.Port}/{db}?sslmode=disable"));
        Assert.StartsWith($"store: postgres://fleet@127.0.0.1:{server.Port}/{db}: authentication failed", e.Message);
        Assert.Contains("fleet", e.Message[$"store: postgres://fleet@".Length..]);
        Assert.DoesNotContain("wrong-secret-77", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        var missing = _dir.File("no-such-password");
        var noFile = Assert.Throws<StartupException>(() =>
            StoreSetting.OpenPostgres($"postgres://fleet@127.0.0.1:{server.Port}/{db}?password_file={missing}"));
        Assert.Equal($"store: password file {missing} does not exist", noFile.Message);
    }

    [Theory]
    [InlineData("postgres://fleet@db.example/nodefleet", 64)]
    [InlineData("Host=db.example;Username=fleet", 64)]
    [InlineData("Host=db.example;Username=fleet;Max Auto Prepare=0", 0)]
    [InlineData("Host=db.example;maxautoprepare = 10;Username=fleet", 10)]
    public void Statements_are_prepared_automatically_unless_the_setting_says_otherwise(string setting, int expected) =>
        Assert.Equal(expected, PostgresConnection.Parse(setting).Builder.MaxAutoPrepare);

    [Fact]
    public void An_unreachable_server_is_one_error_line_naming_the_store()
    {
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }
        var e = Assert.Throws<StartupException>(() => StoreSetting.OpenPostgres($"postgres://fleet:pw-9@127.0.0.1:{port}/fleet"));
        Assert.Equal($"store: postgres://fleet@127.0.0.1:{port}/fleet: cannot connect: Connection refused", e.Message);
    }
}

/// <summary>The store setting read and checked before anything connects.</summary>
public sealed class StoreSettingTests
{
    [Theory]
    [InlineData("postgres://fleet:pw-secret@db:99999/x", "store: port '99999' is not a number from 1 to 65535")]
    [InlineData("postgres://fleet:pw-secret@db/x?sslmode=maybe", "store: sslmode 'maybe' is not one of: disable, allow, prefer, require, verify-ca, verify-full")]
    [InlineData("postgres://fleet:pw-secret@db/x?colour=blue", "store: unknown parameter 'colour'")]
    [InlineData("mysql://fleet:pw-secret@db/x", "store: 'mysql://' is not postgres:// or postgresql://")]
    [InlineData("pw-secret", "store: not a postgres:// URL nor a key=value connection string")]
    [InlineData("Host=db;Password=pw-secret;colour=blue", "store: 'colour' is not a key of an Npgsql connection string")]
    public void A_bad_setting_is_refused_naming_the_part_and_never_the_password(string setting, string message)
    {
        var e = Assert.Throws<StartupException>(() => StoreSetting.Check(setting));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain("pw-secret", e.Message);
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("litedb", false)]
    [InlineData("postgresql://fleet@db/fleet", true)]
    [InlineData("Host=db;Username=fleet", true)]
    public void The_store_is_the_data_directorys_litedb_file_unless_postgresql_is_named(string setting, bool postgres)
    {
        Assert.Equal(postgres, StoreSetting.IsPostgres(setting));
        StoreSetting.Check(setting);
    }

    [Fact]
    public void The_store_is_read_from_the_file_then_environment_then_flag()
    {
        using var dir = new TempDir();
        var file = dir.File("coordinator.yaml");
        File.WriteAllText(file, "store: postgres://from-file@db/fleet\n");
        var none = new Dictionary<string, string?>();
        Assert.Equal("postgres://from-file@db/fleet", CoordinatorOptions.Load(file, none, new Hashtable()).Store);
        var env = new Hashtable { ["NODEFLEET_STORE"] = "postgres://from-env@db/fleet" };
        Assert.Equal("postgres://from-env@db/fleet", CoordinatorOptions.Load(file, none, env).Store);
        var flag = new Dictionary<string, string?> { ["Store"] = "postgres://from-flag@db/fleet" };
        Assert.Equal("postgres://from-flag@db/fleet", CoordinatorOptions.Load(file, flag, env).Store);
        Assert.Equal("", CoordinatorOptions.Load(null, none, new Hashtable()).Store);
    }

    [Theory]
    [InlineData("postgres://fleet@[::1]:6543/fleet?sslmode=require", "postgres://fleet@[::1]:6543/fleet")]
    [InlineData("postgresql://a%40b:p%3Aw@db.example.com/fleet", "postgres://a%40b@db.example.com:5432/fleet")]
    [InlineData("postgres://fleet@/fleet?host=/run/postgresql&port=5433", "postgres://fleet@/run/postgresql/fleet")]
    [InlineData("postgres://fleet@db1:5432,db2:5432/fleet", "postgres://fleet@db1:5432,db2:5432/fleet")]
    public void Urls_are_read_as_libpq_reads_them_and_shown_without_the_password(string url, string display)
    {
        Assert.Equal(display, PostgresConnection.Parse(url).Display);
    }
}
