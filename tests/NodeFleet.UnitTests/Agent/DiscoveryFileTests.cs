using NodeFleet.Agent.Join;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>`join --discovery-file`: the file is read with the same loader as admin.conf, and its errors name file and line.</summary>
public sealed class DiscoveryFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string caData)
    {
        var path = _dir.File("discovery.yaml");
        File.WriteAllText(path, $"apiVersion: nodefleet.io/v1\nkind: Config\ncoordinator: 127.0.0.1:1\ncertificateAuthorityData: {caData}\n");
        return path;
    }

    [Fact]
    public void A_good_file_gives_the_address_and_the_ca()
    {
        using var key = Pki.NewKey();
        using var ca = Pki.CreateCa(key, "nodefleet-ca", TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        var (address, loaded) = DiscoveryFile.Load(Write(Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(Pki.ToPem(ca)))));
        using var _ = loaded;
        Assert.Equal("127.0.0.1:1", address);
        Assert.Equal(ca.Thumbprint, loaded.Thumbprint);
    }

    // "!!!notbase64" is a YAML tag: it used to be read as an empty value and reported as missing.
    [Theory]
    [InlineData("!!!notbase64")]
    [InlineData("'not base64!'")]
    public void Certificate_authority_data_that_is_not_base64_is_named_with_its_line(string value)
    {
        var path = Write(value);
        var e = Assert.Throws<AgentException>(() => DiscoveryFile.Load(path));
        Assert.Equal($"discovery file {path}:4: certificateAuthorityData is not valid base64 (expected a base64-encoded PEM certificate)", e.Message);
    }

    [Fact]
    public void Base64_that_is_not_a_certificate_says_so()
    {
        var path = Write("aGVsbG8=");
        var e = Assert.Throws<AgentException>(() => DiscoveryFile.Load(path));
        Assert.Equal($"discovery file {path}:4: certificateAuthorityData is not a PEM certificate", e.Message);
    }

    [Fact]
    public void An_empty_value_is_missing()
    {
        var path = Write("");
        var e = Assert.Throws<AgentException>(() => DiscoveryFile.Load(path));
        Assert.Equal($"discovery file {path}: certificateAuthorityData is missing", e.Message);
    }

    [Fact]
    public void A_directory_says_so()
    {
        var e = Assert.Throws<AgentException>(() => DiscoveryFile.Load(_dir.Path));
        Assert.Equal($"cannot read discovery file {_dir.Path}: it is a directory", e.Message);
    }

    [Fact]
    public void A_missing_file_says_so()
    {
        var path = _dir.File("nope.yaml");
        var e = Assert.Throws<AgentException>(() => DiscoveryFile.Load(path));
        Assert.Equal($"cannot read discovery file {path}: no such file", e.Message);
    }
}
