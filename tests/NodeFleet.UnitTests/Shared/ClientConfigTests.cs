using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Config;
using NodeFleet.IO;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Shared;

public sealed class ClientConfigTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static ClientConfig NewConfig(string coordinator = "10.0.0.5:7443")
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "nodefleet-ca", TimeSpan.FromDays(10), now);
        using var adminKey = Pki.NewKey();
        using var admin = Pki.IssueClient(ca, caKey, new PublicKey(adminKey), "admin", Roles.Admins, TimeSpan.FromDays(1), now);
        return ClientConfig.Create(coordinator, Pki.ToPem(ca), Pki.ToPem(admin), Pki.KeyToPem(adminKey));
    }

    private string Write(string yaml)
    {
        var path = _dir.File("admin.conf");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void Save_then_Load_round_trips_with_usable_certificates()
    {
        var original = NewConfig();
        var path = _dir.File("admin.conf");
        original.Save(path);

        var loaded = ClientConfig.Load(path);
        Assert.Equal("10.0.0.5:7443", loaded.Coordinator);
        Assert.Equal(ClientConfig.ApiVersionV1, loaded.ApiVersion);
        Assert.Equal("Config", loaded.Kind);
        Assert.Equal(original.CertificateAuthorityData, loaded.CertificateAuthorityData);

        using var ca = loaded.CaCertificate();
        using var client = loaded.ClientCertificate();
        Assert.True(client.HasPrivateKey);
        Assert.Equal(("admin", (string?)Roles.Admins), Pki.ReadSubject(client));
        Assert.True(Pki.ChainsTo(client, ca, CertificateUsage.Client, DateTimeOffset.UtcNow));

        // The private key really is the certificate's key (it outlives the key object Load imported it with).
        using var priv = client.GetECDsaPrivateKey()!;
        using var pub = client.GetECDsaPublicKey()!;
        var data = "nodefleet"u8.ToArray();
        Assert.True(pub.VerifyData(data, priv.SignData(data, HashAlgorithmName.SHA256), HashAlgorithmName.SHA256));
    }

    [Fact]
    public void Saved_file_is_private_and_kubeconfig_shaped()
    {
        var path = _dir.File("admin.conf");
        NewConfig().Save(path);
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(path));
        var text = File.ReadAllText(path);
        Assert.Contains("apiVersion: nodefleet.io/v1", text);
        Assert.Contains("kind: Config", text);
        Assert.Contains("clientKeyData: ", text);
        Assert.DoesNotContain("PRIVATE KEY", text); // base64-encoded, as in a kubeconfig
    }

    [Fact]
    public void Load_of_a_missing_file_names_it()
    {
        var path = _dir.File("nope.conf");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("cannot read", e.Message);
    }

    [Fact]
    public void Load_of_bad_yaml_names_the_file_and_line()
    {
        var path = Write("apiVersion: nodefleet.io/v1\nkind: Config\ncoordinator: [unclosed\nclientKeyData: x\n");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(path)}:[34]: ", e.Message);
    }

    [Fact]
    public void Load_of_an_unknown_field_names_the_file_and_its_line()
    {
        var path = Write("apiVersion: nodefleet.io/v1\nkind: Config\nbogus: 1\n");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.StartsWith($"{path}:3: ", e.Message);
        Assert.Contains("bogus", e.Message);
    }

    [Fact]
    public void Load_of_an_empty_file_says_so()
    {
        var path = Write("");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData("coordinator")]
    [InlineData("certificateAuthorityData")]
    [InlineData("clientCertificateData")]
    [InlineData("clientKeyData")]
    public void Load_names_a_missing_field(string field)
    {
        var full = new Dictionary<string, string>
        {
            ["coordinator"] = "h:1", ["certificateAuthorityData"] = "YQ==", ["clientCertificateData"] = "YQ==", ["clientKeyData"] = "YQ==",
        };
        full.Remove(field);
        var path = Write("apiVersion: nodefleet.io/v1\nkind: Config\n" + string.Concat(full.Select(kv => $"{kv.Key}: {kv.Value}\n")));
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"{field} is missing", e.Message);
    }

    [Theory]
    [InlineData("apiVersion: v1\nkind: Config\n")]
    [InlineData("apiVersion: nodefleet.io/v2\nkind: Config\n")]
    [InlineData("apiVersion: nodefleet.io/v1\nkind: AgentConfig\n")]
    public void Load_refuses_another_api_version_or_kind(string head)
    {
        var path = Write(head + "coordinator: h:1\ncertificateAuthorityData: YQ==\nclientCertificateData: YQ==\nclientKeyData: YQ==\n");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("expected apiVersion nodefleet.io/v1", e.Message);
    }

    [Fact]
    public void Certificate_data_that_is_not_base64_names_the_field()
    {
        var config = NewConfig();
        config.ClientKeyData = "!!not base64!!";
        var e = Assert.Throws<ConfigException>(() => config.ClientCertificate());
        Assert.Contains("clientKeyData", e.Message);
    }

    /// <summary>The config saved, then one field's value replaced as YAML text; the path.</summary>
    private string WriteWith(string field, string yamlValue, ClientConfig? config = null)
    {
        var path = _dir.File("cfg.yaml");
        (config ?? NewConfig()).Save(path);
        var lines = File.ReadAllLines(path).Select(l => l.StartsWith(field + ":", StringComparison.Ordinal) ? $"{field}: {yamlValue}" : l);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static int LineOf(string path, string field) =>
        Array.FindIndex(File.ReadAllLines(path), l => l.StartsWith(field + ":", StringComparison.Ordinal)) + 1;

    // An unquoted value starting with '!' is a YAML tag: it used to load as an empty value, "certificateAuthorityData
    // is missing" though it is there.
    [Theory]
    [InlineData("!!!notbase64")]
    [InlineData("!notbase64")]
    [InlineData("\"notbase64!\"")]
    [InlineData("not base64 at all")]
    public void Certificate_authority_data_that_is_not_base64_is_named_with_its_line(string value)
    {
        var path = WriteWith("certificateAuthorityData", value);
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Equal($"{path}:{LineOf(path, "certificateAuthorityData")}: certificateAuthorityData is not valid base64 " +
                     "(expected a base64-encoded PEM certificate)", e.Message);
    }

    [Fact]
    public void Certificate_authority_data_that_is_base64_but_not_a_certificate_says_so()
    {
        var path = WriteWith("certificateAuthorityData", "aGVsbG8=");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Equal($"{path}:{LineOf(path, "certificateAuthorityData")}: certificateAuthorityData is not a PEM certificate", e.Message);
    }

    // "aGVsbG8=" is "hello": it used to escape as "Unhandled exception: ArgumentException: No supported key formats were found".
    [Theory]
    [InlineData("aGVsbG8=")]
    [InlineData("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=")] // a CERTIFICATE block
    public void Client_key_data_that_is_not_a_private_key_says_so(string value)
    {
        var path = WriteWith("clientKeyData", value);
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Equal($"{path}:{LineOf(path, "clientKeyData")}: clientKeyData is not a PEM private key", e.Message);
    }

    [Fact]
    public void A_damaged_private_key_says_so()
    {
        var damaged = Convert.ToBase64String("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"u8);
        var path = WriteWith("clientKeyData", damaged);
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Equal($"{path}:{LineOf(path, "clientKeyData")}: clientKeyData is not a valid PEM private key (its content is damaged)", e.Message);
    }

    // A key from another admin.conf used to escape as "Unhandled exception: … The provided key does not match the public key".
    [Fact]
    public void A_key_from_another_config_does_not_match_the_certificate()
    {
        var path = WriteWith("clientKeyData", NewConfig().ClientKeyData);
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Equal($"{path}:{LineOf(path, "clientKeyData")}: clientKeyData does not match clientCertificateData", e.Message);
    }

    [Fact]
    public void Client_certificate_data_that_is_not_a_certificate_says_so()
    {
        var path = WriteWith("clientCertificateData", "aGVsbG8=");
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(path));
        Assert.Equal($"{path}:{LineOf(path, "clientCertificateData")}: clientCertificateData is not a PEM certificate", e.Message);
    }

    [Fact]
    public void A_directory_is_not_a_config()
    {
        var e = Assert.Throws<ConfigException>(() => ClientConfig.Load(_dir.Path));
        Assert.Equal($"cannot read config {_dir.Path}: it is a directory", e.Message);
    }

    [Fact]
    public void A_tagged_value_is_read_as_written_and_a_str_tag_as_its_value()
    {
        var fields = NodeFleet.Config.FlatYaml.ReadEntries("a: !!!x\nb: !!str y\nc: z\n", ["a", "b", "c"])!;
        Assert.Equal(new NodeFleet.Config.FlatYaml.Entry("!!!x", 1), fields["a"]);
        Assert.Equal(new NodeFleet.Config.FlatYaml.Entry("y", 2), fields["b"]);
        Assert.Equal(new NodeFleet.Config.FlatYaml.Entry("z", 3), fields["c"]);
    }
}
