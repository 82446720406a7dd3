using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Security;

namespace NodeFleet.Tests.Shared;

public sealed class PkiTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly ECDsa _caKey = Pki.NewKey();
    private readonly X509Certificate2 _ca;

    public PkiTests() => _ca = Pki.CreateCa(_caKey, "nodefleet-ca", TimeSpan.FromDays(3650), Now.AddYears(-2));

    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
    }

    private X509Certificate2 IssueFromCsr(string name, DateTimeOffset now, TimeSpan? validity = null)
    {
        using var nodeKey = Pki.NewKey();
        var csr = Pki.CreateCsrPem(nodeKey, name);
        var publicKey = Pki.ReadCsrPublicKey(csr);
        return Pki.IssueClient(_ca, _caKey, publicKey, name, Roles.Nodes, validity ?? TimeSpan.FromDays(365), now);
    }

    [Fact]
    public void Client_certificate_from_a_csr_names_the_node_and_its_role()
    {
        using var cert = IssueFromCsr("node-1", Now);
        Assert.Equal(("node-1", (string?)Roles.Nodes), Pki.ReadSubject(cert));
        Assert.Equal("nodefleet:nodes", Roles.Nodes);
    }

    [Fact]
    public void Client_certificate_carries_the_csr_key()
    {
        using var nodeKey = Pki.NewKey();
        var publicKey = Pki.ReadCsrPublicKey(Pki.CreateCsrPem(nodeKey, "node-1"));
        using var cert = Pki.IssueClient(_ca, _caKey, publicKey, "node-1", Roles.Nodes, TimeSpan.FromDays(1), Now);
        Assert.Equal(nodeKey.ExportSubjectPublicKeyInfo(), cert.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(Pki.SpkiSha256(publicKey), Pki.SpkiSha256(cert.PublicKey));
    }

    [Fact]
    public void Client_certificate_chains_to_its_ca_with_client_auth()
    {
        using var cert = IssueFromCsr("node-1", Now);
        Assert.True(Pki.ChainsTo(cert, _ca, CertificateUsage.Client, Now));
    }

    [Fact]
    public void Certificate_does_not_chain_to_another_ca_even_with_the_same_name()
    {
        using var cert = IssueFromCsr("node-1", Now);
        using var otherKey = Pki.NewKey();
        using var other = Pki.CreateCa(otherKey, "nodefleet-ca", TimeSpan.FromDays(3650), Now.AddYears(-2));
        Assert.False(Pki.ChainsTo(cert, other, CertificateUsage.Client, Now));
        Assert.False(Pki.ChainsTo(cert, other, CertificateUsage.Server, Now));
    }

    [Fact]
    public void Serving_certificate_is_not_a_client_certificate()
    {
        using var key = Pki.NewKey();
        using var serving = Pki.IssueServing(_ca, _caKey, key, "nodefleet-coordinator", ["localhost", "127.0.0.1"],
            TimeSpan.FromDays(365), Now);
        Assert.True(Pki.ChainsTo(serving, _ca, CertificateUsage.Server, Now));
        Assert.False(Pki.ChainsTo(serving, _ca, CertificateUsage.Client, Now));
    }

    [Fact]
    public void A_node_certificate_is_not_a_server_certificate_whatever_its_name()
    {
        using var cert = IssueFromCsr("localhost", Now);
        Assert.False(Pki.ChainsTo(cert, _ca, CertificateUsage.Server, Now));
    }

    [Fact]
    public void A_certificate_of_the_ca_without_an_extended_key_usage_passes_for_neither_use()
    {
        using var key = Pki.NewKey();
        var req = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using var cert = req.Create(_ca.SubjectName, X509SignatureGenerator.CreateForECDsa(_caKey), Now.AddMinutes(-1), Now.AddDays(1), [1, 2, 3]);
        Assert.False(Pki.ChainsTo(cert, _ca, CertificateUsage.Server, Now));
        Assert.False(Pki.ChainsTo(cert, _ca, CertificateUsage.Client, Now));
    }

    [Fact]
    public void Expired_certificate_does_not_chain()
    {
        using var old = IssueFromCsr("node-1", Now.AddDays(-400), TimeSpan.FromDays(365));
        Assert.True(old.NotAfter.ToUniversalTime() < Now.UtcDateTime);
        Assert.True(Pki.ChainsTo(old, _ca, CertificateUsage.Client, Now.AddDays(-200)));
        Assert.False(Pki.ChainsTo(old, _ca, CertificateUsage.Client, Now));
    }

    [Fact]
    public void Leaf_validity_is_capped_at_the_ca_expiry()
    {
        using var cert = IssueFromCsr("node-1", Now, TimeSpan.FromDays(36500));
        Assert.Equal(_ca.NotAfter, cert.NotAfter);
    }

    [Fact]
    public void Ca_is_a_self_signed_ca_with_the_given_name()
    {
        Assert.Equal("CN=nodefleet-ca", _ca.Subject);
        Assert.Equal(_ca.Subject, _ca.Issuer);
        var bc = _ca.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(bc.CertificateAuthority);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")]
    public void ReadCsrPublicKey_refuses_garbage(string pem)
    {
        var e = Assert.ThrowsAny<Exception>(() => Pki.ReadCsrPublicKey(pem));
        Assert.True(e is CryptographicException or ArgumentException, $"unexpected {e.GetType()}: {e.Message}");
    }

    [Fact]
    public void ReadCsrPublicKey_refuses_a_csr_whose_signature_does_not_verify()
    {
        using var key = Pki.NewKey();
        var pem = Pki.CreateCsrPem(key, "node-1");
        var der = Convert.FromBase64String(pem[PemEncoding.Find(pem).Base64Data]);
        der[^1] ^= 0x01; // last byte of the signature
        var tampered = PemEncoding.WriteString("CERTIFICATE REQUEST", der);
        var e = Assert.ThrowsAny<Exception>(() => Pki.ReadCsrPublicKey(tampered));
        Assert.True(e is CryptographicException or ArgumentException, $"unexpected {e.GetType()}: {e.Message}");
    }

    [Fact]
    public void Serials_are_random_and_positive()
    {
        using var a = IssueFromCsr("node-1", Now);
        using var b = IssueFromCsr("node-1", Now);
        Assert.NotEqual(a.SerialNumber, b.SerialNumber);
        Assert.True(Convert.FromHexString(a.SerialNumber)[0] < 0x80, a.SerialNumber);
    }
}
