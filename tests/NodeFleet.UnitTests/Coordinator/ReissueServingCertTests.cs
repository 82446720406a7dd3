using NodeFleet.Coordinator.Commands;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>`reissue-serving-cert`: a lost serving key (or an expiring certificate) is not a dead end.</summary>
public sealed class ReissueServingCertTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string DataPath => Path.Combine(_tmp.Path, "data");

    private DataDirectory Init()
    {
        Assert.Equal(0, InitCommand.Run(new InitCommand.Settings(DataPath, ["coordinator.example.com"], "10.1.2.3:7443"),
            new StringWriter(), TimeProvider.System));
        return new DataDirectory(DataPath);
    }

    private static string Reissue(DataDirectory dir, params string[] extraSans)
    {
        var output = new StringWriter();
        Assert.Equal(0, ReissueServingCertCommand.Run(new ReissueServingCertCommand.Settings(dir.Path, extraSans), output, TimeProvider.System));
        return output.ToString();
    }

    private static void AssertServedByTheCa(DataDirectory dir, params string[] hosts)
    {
        dir.EnsureUsable();
        var (ca, key) = dir.LoadCa();
        using var _ = ca;
        using var __ = key;
        using var serving = dir.LoadServing(ca);
        Assert.True(serving.HasPrivateKey);
        Assert.True(Pki.ChainsTo(serving, ca, CertificateUsage.Server, DateTimeOffset.UtcNow));
        foreach (var host in hosts) Assert.True(serving.MatchesHostname(host), host);
    }

    [Fact]
    public void A_lost_serving_key_is_replaced_keeping_the_certificate_names()
    {
        var dir = Init();
        var before = File.ReadAllText(dir.ServingCert);
        File.Delete(dir.ServingKey);
        Assert.Throws<StartupException>(() => dir.EnsureUsable());

        var output = Reissue(dir);
        Assert.Contains($"those of the previous {dir.ServingCert}", output);
        Assert.Contains("Restart the coordinator", output);
        Assert.NotEqual(before, File.ReadAllText(dir.ServingCert));
        AssertServedByTheCa(dir, "coordinator.example.com", "10.1.2.3", "localhost", "127.0.0.1");
        Assert.Equal(NodeFleet.IO.AtomicFile.Private, File.GetUnixFileMode(dir.ServingKey));
    }

    [Fact]
    public void Without_the_old_certificate_it_names_this_host_and_the_advertised_address_and_extra_names()
    {
        var dir = Init();
        File.Delete(dir.ServingKey);
        File.Delete(dir.ServingCert);
        var output = Reissue(dir, "extra.example.com");
        Assert.Contains("this host's names and addresses, and --cert-extra-sans", output);
        AssertServedByTheCa(dir, "10.1.2.3", "localhost", "127.0.0.1", "extra.example.com");
    }

    [Fact]
    public void A_bad_extra_name_or_a_ca_key_that_does_not_match_writes_nothing()
    {
        var dir = Init();
        var before = File.ReadAllText(dir.ServingCert);
        var e = Assert.Throws<StartupException>(() => Reissue(dir, "bad name!"));
        Assert.StartsWith("--cert-extra-sans 'bad name!'", e.Message);

        var other = new DataDirectory(Path.Combine(_tmp.Path, "other"));
        InitCommand.Run(new InitCommand.Settings(other.Path, [], "10.1.2.3:7443"), new StringWriter(), TimeProvider.System);
        File.Copy(other.CaKey, dir.CaKey, overwrite: true);
        Assert.Equal($"{dir.CaKey} does not match {dir.CaCert}", Assert.Throws<StartupException>(() => Reissue(dir)).Message);
        Assert.Equal(before, File.ReadAllText(dir.ServingCert));
    }

    [Fact]
    public void A_missing_data_directory_is_named()
    {
        var e = Assert.Throws<StartupException>(() => Reissue(new DataDirectory(DataPath)));
        Assert.Contains($"data directory {DataPath} does not exist", e.Message);
    }
}
