using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Certificates;

/// <summary>The coordinator's CAs through the phases of a rotation, as the store's records drive them.</summary>
public sealed class CertificateAuthorityRotationTests
{
    private readonly ManualTime _time = new();

    private CertificateAuthorityRecord NewCa(int generation, string state)
    {
        using var key = Pki.NewKey();
        using var cert = Pki.CreateCa(key, $"ca-{generation}", TimeSpan.FromDays(3650), _time.GetUtcNow());
        return FleetAuthorities.Record(cert, key, generation, state, _time.GetUtcNow().UtcDateTime);
    }

    private static CertificateAuthorityRecord With(CertificateAuthorityRecord r, string state) => new()
    {
        Generation = r.Generation, State = state, CertificatePem = r.CertificatePem, KeyPem = r.KeyPem, CreatedAt = r.CreatedAt,
    };

    [Fact]
    public void Each_phase_changes_who_signs_who_is_trusted_and_where_the_serving_certificate_comes_from()
    {
        var old = NewCa(1, CertificateAuthorityRecord.Active);
        var ca = new CertificateAuthority(FleetAuthorities.Authorities([old], "test"), _time);
        using var nodeKey = Pki.NewKey();
        using var before = ca.IssueNode("n1", new System.Security.Cryptography.X509Certificates.PublicKey(nodeKey));
        Assert.Equal("none", ca.Phase);
        Assert.Equal(1, ca.GenerationOf(before));
        var changed = ca.WhenChanged;

        // start: the new CA is trusted and is the join pin; the old one signs and serves.
        var next = NewCa(2, CertificateAuthorityRecord.Next);
        Assert.True(ca.Update([old, next]));
        Assert.True(changed.IsCompleted);
        Assert.False(ca.Update([old, next]));
        Assert.Equal("started", ca.Phase);
        Assert.Equal(1, ca.ActiveGeneration);
        Assert.Equal(CaHash.Of(ca.All[1].Certificate), ca.JoinHash);
        Assert.Equal(2, CaBundle.Parse(ca.TrustBundlePem).Count);
        Assert.Equal(ca.All[0].Certificate.Thumbprint, ca.ServingCertificate.Thumbprint);

        // reissue: the new CA signs; both are trusted; the serving certificate still comes from the old one.
        Assert.True(ca.Update([With(old, CertificateAuthorityRecord.Previous), With(next, CertificateAuthorityRecord.Active)]));
        Assert.Equal("reissuing", ca.Phase);
        using var after = ca.IssueNode("n1", new System.Security.Cryptography.X509Certificates.PublicKey(nodeKey));
        Assert.Equal(2, ca.GenerationOf(after));
        Assert.True(ca.Trusts(before));
        Assert.True(ca.Trusts(after));
        Assert.Equal(ca.All[0].Certificate.Thumbprint, ca.ServingCertificate.Thumbprint);
        var bundle = CaBundle.Parse(ca.TrustBundlePem);
        Assert.Equal(CaHash.Of(ca.Certificate), CaHash.Of(bundle[0]));

        // finish: only the new CA; a certificate of the old one is no longer trusted, nor counted as issued.
        Assert.True(ca.Update([With(next, CertificateAuthorityRecord.Active)]));
        Assert.Equal("none", ca.Phase);
        Assert.False(ca.Trusts(before));
        Assert.False(ca.Issued(before));
        Assert.Equal(0, ca.GenerationOf(before));
        Assert.True(ca.Trusts(after));
        Assert.Equal(ca.Certificate.Thumbprint, ca.ServingCertificate.Thumbprint);
        Assert.Single(CaBundle.Parse(ca.TrustBundlePem));
    }

    [Fact]
    public void A_node_recorded_before_generations_were_kept_counts_as_generation_one() =>
        Assert.Equal(1, CaRotation.Generation(new NodeRecord { Name = "old" }));
}
