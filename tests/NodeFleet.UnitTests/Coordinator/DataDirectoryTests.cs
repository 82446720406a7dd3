using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Config;
using NodeFleet.Coordinator.Commands;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.IO;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class DataDirectoryTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string DataPath => Path.Combine(_tmp.Path, "data");

    private string Init(string? dataDir = null, IReadOnlyList<string>? sans = null)
    {
        var output = new StringWriter();
        Assert.Equal(0, InitCommand.Run(new InitCommand.Settings(dataDir ?? DataPath, sans ?? ["coordinator.example.com"], "10.1.2.3:7443"),
            output, TimeProvider.System));
        return output.ToString();
    }

    [Fact]
    public void Missing_directory_says_to_run_init()
    {
        var e = Assert.Throws<StartupException>(() => new DataDirectory(DataPath).EnsureUsable());
        Assert.Contains("does not exist", e.Message);
        Assert.Contains("init", e.Message);
        Assert.Contains(DataPath, e.Message);
    }

    [Fact]
    public void Empty_directory_is_not_initialised()
    {
        Directory.CreateDirectory(DataPath);
        var dir = new DataDirectory(DataPath);
        Assert.False(dir.IsInitialized);
        var e = Assert.Throws<StartupException>(() => dir.EnsureUsable());
        Assert.Contains("not initialised", e.Message);
        Assert.Contains("init", e.Message);
    }

    [Fact]
    public void Initialised_directory_is_usable()
    {
        var output = Init();
        var dir = new DataDirectory(DataPath);
        Assert.True(dir.IsInitialized);
        dir.EnsureUsable();
        Assert.Empty(Directory.GetFiles(DataPath, ".write-probe*"));
        Assert.Contains("CA hash:", output);
        Assert.Contains("10.1.2.3:7443", output);
    }

    [Fact]
    public void Init_prints_the_hash_of_the_ca_it_wrote()
    {
        var output = Init();
        var (ca, key) = new DataDirectory(DataPath).LoadCa();
        using var _ = ca;
        using var __ = key;
        Assert.Contains(CaHash.Of(ca), output);
    }

    [Fact]
    public void Init_twice_refuses_to_overwrite_the_ca()
    {
        Init();
        var caBefore = File.ReadAllText(new DataDirectory(DataPath).CaCert);
        var e = Assert.Throws<StartupException>(() => Init());
        Assert.Contains("already initialised", e.Message);
        Assert.Equal(caBefore, File.ReadAllText(new DataDirectory(DataPath).CaCert));
    }

    [Fact]
    public void Secrets_are_private_and_the_directory_is_owner_only()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(dir.CaKey));
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(dir.ServingKey));
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(dir.AdminConf));
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(dir.Database));
        Assert.Equal(AtomicFile.Public, File.GetUnixFileMode(dir.CaCert));
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Assert.Equal(ownerOnly, File.GetUnixFileMode(dir.Path));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(dir.PkiDir));
    }

    [Fact]
    public void Admin_conf_loads_and_holds_an_admin_certificate_of_the_ca()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        var config = ClientConfig.Load(dir.AdminConf);
        Assert.Equal("10.1.2.3:7443", config.Coordinator);

        using var client = config.ClientCertificate();
        Assert.True(client.HasPrivateKey);
        Assert.Equal(("admin", (string?)Roles.Admins), Pki.ReadSubject(client));
        Assert.Equal("nodefleet:admins", Roles.Admins);

        var (ca, key) = dir.LoadCa();
        using var _ = ca;
        using var __ = key;
        using var configCa = config.CaCertificate();
        Assert.Equal(ca.RawData, configCa.RawData);
        Assert.True(Pki.ChainsTo(client, ca, CertificateUsage.Client, DateTimeOffset.UtcNow));
    }

    [Fact]
    public void Serving_certificate_chains_to_the_ca_and_names_the_advertised_and_extra_hosts()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        using var serving = dir.LoadServing();
        Assert.True(serving.HasPrivateKey);
        var (ca, key) = dir.LoadCa();
        using var _ = ca;
        using var __ = key;
        Assert.True(Pki.ChainsTo(serving, ca, CertificateUsage.Server, DateTimeOffset.UtcNow));
        Assert.True(serving.MatchesHostname("coordinator.example.com"));
        Assert.True(serving.MatchesHostname("10.1.2.3"));
        Assert.True(serving.MatchesHostname("localhost"));
    }

    [Fact]
    public void Database_records_the_advertised_address()
    {
        Init();
        using var store = new LiteDbStore(new DataDirectory(DataPath).Database);
        Assert.Equal("10.1.2.3:7443", store.Cluster.Get()!.AdvertiseAddress);
    }

    [Fact]
    public void Init_records_the_admin_conf_certificate_as_issued_by_the_first_ca()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        using var store = new LiteDbStore(dir.Database);
        using var admin = ClientConfig.Load(dir.AdminConf).ClientCertificate();
        var record = Assert.Single(store.OperatorCertificates.List());
        Assert.Equal((Pki.SerialOf(admin), "admin", "admin", 1), (record.Serial, record.Name, record.Role, record.CaGeneration));
    }

    [Fact]
    public void A_missing_serving_key_says_to_restore_or_reissue_it_not_to_run_init()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        File.Delete(dir.ServingKey);
        var e = Assert.Throws<StartupException>(() => dir.EnsureUsable());
        Assert.Equal($"{dir.ServingKey} is missing: restore it from a backup of {dir.Path}, or issue a new serving certificate " +
                     $"from the CA with `nodefleet-coordinator reissue-serving-cert --data-dir {dir.Path}`", e.Message);
        Assert.DoesNotContain("not initialised", e.Message);
    }

    [Fact]
    public void A_missing_database_is_refused_and_an_empty_one_is_a_deliberate_new_start()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        File.Delete(dir.Database);
        var e = Assert.Throws<StartupException>(() => dir.EnsureUsable());
        Assert.StartsWith($"database {dir.Database} is missing (the data directory was initialised): restore it from a backup", e.Message);
        Assert.False(File.Exists(dir.Database));

        File.WriteAllBytes(dir.Database, []);
        dir.EnsureUsable();
        using var store = new LiteDbStore(dir.Database);
        Assert.Equal(0, store.Nodes.Count());
    }

    [Fact]
    public void A_directory_with_neither_ca_nor_database_is_taken_for_one_on_postgresql_and_the_store_setting_is_named()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        foreach (var f in new[] { dir.CaCert, dir.CaKey, dir.Database }) File.Delete(f);
        var e = Assert.Throws<StartupException>(() => dir.EnsureUsable());
        Assert.StartsWith($"database {dir.Database} is missing, and so is the CA: a data directory initialised with --store", e.Message);
        Assert.Contains("give the coordinator the same store setting", e.Message);
        dir.EnsureUsable(databaseFile: false);
    }

    [Fact]
    public void A_missing_ca_key_says_to_restore_it_and_why_it_cannot_be_made_again()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        File.Delete(dir.CaKey);
        var e = Assert.Throws<StartupException>(() => dir.EnsureUsable());
        Assert.StartsWith($"{dir.CaKey} is missing: restore it from a backup of {dir.Path} (without it no certificate can be issued", e.Message);
    }

    [Fact]
    public void An_empty_or_invalid_path_is_refused()
    {
        Assert.Equal("data directory path is empty", Assert.Throws<StartupException>(() => new DataDirectory("")).Message);
        Assert.Equal("data directory path is empty", Assert.Throws<StartupException>(() => new DataDirectory("  ")).Message);
        Assert.Contains("is not a valid path", Assert.Throws<StartupException>(() => new DataDirectory("a\0b")).Message);
    }

    [Fact]
    public void A_regular_file_is_not_a_data_directory()
    {
        File.WriteAllText(DataPath, "x");
        var dir = new DataDirectory(DataPath);
        Assert.Equal($"data directory {DataPath} is not a directory", Assert.Throws<StartupException>(() => dir.EnsureUsable()).Message);
        Assert.Equal($"data directory {DataPath} is not a directory", Assert.Throws<StartupException>(() => Init()).Message);
        var under = Path.Combine(DataPath, "sub", "data");
        Assert.Equal($"cannot create data directory {under}: {DataPath} is not a directory",
            Assert.Throws<StartupException>(() => Init(under)).Message);
    }

    [Fact]
    public void A_database_that_is_a_directory_is_named()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        File.Delete(dir.Database);
        Directory.CreateDirectory(dir.Database);
        Assert.Equal($"database {dir.Database} is a directory, not a database file",
            Assert.Throws<StartupException>(() => dir.EnsureUsable()).Message);

        var other = new DataDirectory(Path.Combine(_tmp.Path, "other"));
        Directory.CreateDirectory(other.Database);
        Assert.Equal($"{other.Database} is a directory, not a file", Assert.Throws<StartupException>(() => Init(other.Path)).Message);
        Assert.False(File.Exists(other.CaKey)); // refused before anything was written
    }

    [Theory]
    [InlineData("ca.crt", "not a PEM certificate")]
    [InlineData("ca.key", "not a PEM private key")]
    [InlineData("serving.crt", "not a PEM certificate")]
    [InlineData("serving.key", "not a PEM private key")]
    public void A_pki_file_that_does_not_parse_is_named(string file, string what)
    {
        Init();
        var dir = new DataDirectory(DataPath);
        var path = Path.Combine(dir.PkiDir, file);
        File.WriteAllText(path, "garbage\n");
        var e = Assert.Throws<StartupException>(() => { LoadAll(dir); });
        Assert.Equal($"{path}: {what}", e.Message);
        // Binary, and a PEM block of the wrong kind, too.
        File.WriteAllBytes(path, [0x30, 0x82, 0xff, 0x00, 0x01]);
        Assert.Equal($"{path}: {what}", Assert.Throws<StartupException>(() => { LoadAll(dir); }).Message);
        File.WriteAllText(path, "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n");
        Assert.Equal($"{path}: {what}", Assert.Throws<StartupException>(() => { LoadAll(dir); }).Message);
    }

    private static void LoadAll(DataDirectory dir)
    {
        var (ca, key) = dir.LoadCa();
        using var _ = ca;
        using var __ = key;
        using var serving = dir.LoadServing(ca);
    }

    [Fact]
    public void A_public_key_is_not_a_private_key()
    {
        Init();
        var dir = new DataDirectory(DataPath);
        using (var key = System.Security.Cryptography.ECDsa.Create())
        {
            key.ImportFromPem(File.ReadAllText(dir.CaKey));
            File.WriteAllText(dir.CaKey, key.ExportSubjectPublicKeyInfoPem());
        }
        Assert.Equal($"{dir.CaKey}: not a PEM private key", Assert.Throws<StartupException>(() => dir.LoadCa()).Message);
    }

    [Fact]
    public void A_ca_key_of_another_ca_is_refused()
    {
        Init();
        Init(Path.Combine(_tmp.Path, "other"));
        var dir = new DataDirectory(DataPath);
        File.Copy(new DataDirectory(Path.Combine(_tmp.Path, "other")).CaKey, dir.CaKey, overwrite: true);
        Assert.Equal($"{dir.CaKey} does not match {dir.CaCert}", Assert.Throws<StartupException>(() => dir.LoadCa()).Message);
    }

    [Fact]
    public void A_serving_certificate_of_another_ca_or_a_key_of_another_certificate_is_refused()
    {
        Init();
        Init(Path.Combine(_tmp.Path, "other"));
        var dir = new DataDirectory(DataPath);
        var other = new DataDirectory(Path.Combine(_tmp.Path, "other"));
        File.Copy(other.ServingKey, dir.ServingKey, overwrite: true);
        Assert.Equal($"{dir.ServingKey} does not match {dir.ServingCert}", Assert.Throws<StartupException>(() => dir.LoadServing()).Message);

        File.Copy(other.ServingCert, dir.ServingCert, overwrite: true);
        var (ca, key) = dir.LoadCa();
        using var _ = ca;
        using var __ = key;
        var e = Assert.Throws<StartupException>(() => dir.LoadServing(ca));
        Assert.StartsWith($"{dir.ServingCert} is not issued by {dir.CaCert}", e.Message);
    }

    [Fact]
    public void A_directory_with_only_a_database_counts_as_initialised()
    {
        Directory.CreateDirectory(DataPath);
        File.WriteAllText(Path.Combine(DataPath, LiteDbStore.FileName), "");
        Assert.True(new DataDirectory(DataPath).IsInitialized);
        Assert.Throws<StartupException>(() => Init());
    }

    [Theory]
    [InlineData("bad name!")]
    [InlineData("*.com")]
    [InlineData("a.*.example.com")]
    [InlineData("1.2.3")]
    public void Init_refuses_a_serving_name_that_is_neither_an_ip_nor_a_dns_name_before_writing_anything(string san)
    {
        var e = Assert.Throws<StartupException>(() =>
            InitCommand.Run(new InitCommand.Settings(DataPath, ["ok.example.com", san], "10.1.2.3:7443"), new StringWriter(), TimeProvider.System));
        Assert.StartsWith($"--cert-extra-sans '{san}': not an IP address or a DNS name: ", e.Message);
        Assert.False(Directory.Exists(DataPath));
    }

    [Fact]
    public void Init_refuses_an_advertise_host_that_is_not_a_dns_name()
    {
        var e = Assert.Throws<StartupException>(() =>
            InitCommand.Run(new InitCommand.Settings(DataPath, [], "bad_host:7443"), new StringWriter(), TimeProvider.System));
        Assert.StartsWith("--advertise-address 'bad_host:7443': 'bad_host' is not an IP address or a DNS name: '_' is not allowed", e.Message);
    }

    [Fact]
    public void A_wildcard_first_label_and_an_ipv6_address_are_served()
    {
        Init(DataPath, ["*.fleet.example.com", "2001:db8::5"]);
        using var serving = new DataDirectory(DataPath).LoadServing();
        Assert.True(serving.MatchesHostname("node-7.fleet.example.com"));
        Assert.True(serving.MatchesHostname("2001:db8::5"));
    }
}
