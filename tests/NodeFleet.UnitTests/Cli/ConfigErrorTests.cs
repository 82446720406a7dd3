using System.Security.Cryptography.X509Certificates;
using NodeFleet.Cli.Connection;
using NodeFleet.Config;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Cli.CliRun;

namespace NodeFleet.Tests.Cli;

/// <summary>
/// A CLI config that cannot be used is one "error: FILE[:LINE]: …" line and exit code 1 before anything is sent,
/// never an unhandled exception or a .NET message.
/// </summary>
public sealed class ConfigErrorTests : IDisposable
{
    private const string Nowhere = "127.0.0.1:1";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A working config with one field's value replaced; its path and that field's line.</summary>
    private (string Path, int Line) ConfigWith(string field, string value)
    {
        var path = WriteConfig(_dir, Nowhere);
        var lines = File.ReadAllLines(path);
        var index = Array.FindIndex(lines, l => l.StartsWith(field + ":", StringComparison.Ordinal));
        lines[index] = $"{field}: {value}";
        File.WriteAllLines(path, lines);
        return (path, index + 1);
    }

    private static string OtherConfigsKey()
    {
        using var dir = new TempDir();
        return ClientConfig.Load(WriteConfig(dir, Nowhere)).ClientKeyData;
    }

    private static async Task AssertOneErrorLine(string[] args, string expected)
    {
        var (code, stdout, stderr) = await Run(args);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: {expected}\n", stderr);
    }

    [Fact]
    public async Task A_client_key_that_is_not_a_key()
    {
        var (path, line) = ConfigWith("clientKeyData", "aGVsbG8=");
        await AssertOneErrorLine(["--config", path, "nodes"], $"{path}:{line}: clientKeyData is not a PEM private key");
    }

    [Fact]
    public async Task A_client_key_from_another_config()
    {
        var (path, line) = ConfigWith("clientKeyData", OtherConfigsKey());
        await AssertOneErrorLine(["--config", path, "nodes"], $"{path}:{line}: clientKeyData does not match clientCertificateData");
    }

    [Fact]
    public async Task A_ca_that_is_a_yaml_tag_rather_than_base64()
    {
        var (path, line) = ConfigWith("certificateAuthorityData", "!!!notbase64");
        await AssertOneErrorLine(["--config", path, "nodes"],
            $"{path}:{line}: certificateAuthorityData is not valid base64 (expected a base64-encoded PEM certificate)");
    }

    [Fact]
    public async Task A_directory_as_config()
    {
        await AssertOneErrorLine(["--config", _dir.Path, "nodes"], $"cannot read config {_dir.Path}: it is a directory");
    }

    [Fact]
    public async Task A_directory_as_plan()
    {
        var (code, stdout, stderr) = await Run("plan", "validate", _dir.Path);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: {_dir.Path}: cannot read plan: it is a directory\n", stderr);
    }

    [Fact]
    public async Task A_ttl_too_long_for_a_duration()
    {
        var path = WriteConfig(_dir, Nowhere);
        await AssertOneErrorLine(["--config", path, "token", "create", "--ttl", "99999999d"],
            "--ttl: '99999999d' is too long: a duration is at most 36500d (100 years)");
    }

    public static TheoryData<string, string> Reasons() => new()
    {
        { "expired", "it expired on " },
        { "future", "it is not valid before " },
        { "other-ca", "it is not issued by the fleet's CA (is clientCertificateData from another coordinator's admin.conf?)" },
        { "trusted", "the coordinator does not trust it (was it revoked, by `nodefleet admin revoke`, or the CA replaced since the config was written?)" },
    };

    [Theory]
    [MemberData(nameof(Reasons))]
    public void Why_a_coordinator_would_reject_the_client_certificate(string kind, string expected)
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "nodefleet-ca", TimeSpan.FromDays(3650), now.AddDays(-30));
        using var otherKey = Pki.NewKey();
        using var other = Pki.CreateCa(otherKey, "nodefleet-ca", TimeSpan.FromDays(3650), now.AddDays(-30));
        using var key = Pki.NewKey();
        var (issuer, issuerKey, issuedAt) = kind switch
        {
            "other-ca" => (other, otherKey, now),
            "expired" => (ca, caKey, now.AddDays(-10)),
            "future" => (ca, caKey, now.AddDays(10)),
            _ => (ca, caKey, now),
        };
        using var client = Pki.IssueClient(issuer, issuerKey, new PublicKey(key), "admin", Roles.Admins, TimeSpan.FromDays(5), issuedAt);
        Assert.StartsWith(expected, CliConnection.RejectionReason(client, ca, now));
    }
}
