using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Issuing and revoking operator certificates over a real LiteDB file.</summary>
public sealed class OperatorCertificatesTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();
    private readonly DenyList _denyList = new();
    private OperatorCertificates _certificates = null!;

    public Task InitializeAsync()
    {
        _certificates = new OperatorCertificates(_rig.Store, _rig.Ca, _rig.Events, _rig.Time,
            NullLogger<OperatorCertificates>.Instance, _denyList);
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private static string Csr(ECDsa key) =>
        new CertificateRequest(new X500DistinguishedName("CN=x"), key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

    [Fact]
    public async Task An_issued_certificate_carries_the_role_for_the_csrs_key_and_is_recorded_with_its_issuer()
    {
        using var key = Pki.NewKey();
        Actor.Set("admin");
        var (cert, record) = await _certificates.IssueAsync("alice", "operator", TimeSpan.FromHours(8), Csr(key));
        Actor.Set(null);
        using var _ = cert;

        Assert.Equal(key.ExportSubjectPublicKeyInfo(), cert.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(("alice", (string?)Roles.Admins), Pki.ReadSubject(cert));
        Assert.Equal(OperatorRoles.Operator, Pki.ReadUnit(cert));
        Assert.True(_rig.Ca.Trusts(cert));
        Assert.InRange(cert.NotAfter - cert.NotBefore, TimeSpan.FromHours(8), TimeSpan.FromHours(8) + TimeSpan.FromMinutes(10));
        var stored = Assert.Single(_rig.Store.OperatorCertificates.List());
        Assert.Equal((Pki.SerialOf(cert), "alice", "operator", "admin", (DateTime?)null),
            (stored.Serial, stored.Name, stored.Role, stored.IssuedBy, stored.RevokedAt));
        Assert.Equal(record.Serial, stored.Serial);
        var issued = Assert.Single(_rig.Store.Events.Newest(new EventQuery(10)), e => e.Reason == "OperatorCertificateIssued");
        Assert.Equal("admin", issued.Actor);
    }

    [Theory]
    [InlineData(8 * 60)]
    [InlineData(10)]
    public async Task A_renewed_certificate_is_as_long_as_the_one_it_replaces_however_often_it_is_renewed(int minutes)
    {
        using var key = Pki.NewKey();
        var (issued, _) = await _certificates.IssueAsync("dave", "viewer", TimeSpan.FromMinutes(minutes), Csr(key));
        var current = issued;
        for (var i = 0; i < 3; i++)
        {
            var (renewed, record) = await _certificates.RenewAsync("dave", OperatorRole.Viewer, current, Csr(key));
            Assert.Equal(issued.NotAfter - issued.NotBefore, renewed.NotAfter - renewed.NotBefore);
            Assert.Equal(renewed.NotAfter.ToUniversalTime(), record.ExpiresAt);
            current = renewed;
        }
    }

    [Theory]
    [InlineData("Alice", "viewer", "name 'Alice'")]
    [InlineData("coordinator", "viewer", "reserved")]
    [InlineData("bob", "root", "role 'root': one of viewer, operator, admin")]
    public async Task Bad_requests_are_refused_before_anything_is_issued(string name, string role, string message)
    {
        using var key = Pki.NewKey();
        var e = await Edge.ThrowsAsync(() => _certificates.IssueAsync(name, role, null, Csr(key)));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(message, e.Status.Detail);
        Assert.Empty(_rig.Store.OperatorCertificates.List());
    }

    [Fact]
    public async Task Revoke_denies_every_live_certificate_of_the_name_and_refuses_an_unknown_one_or_the_caller_itself()
    {
        using var key = Pki.NewKey();
        var (first, _) = await _certificates.IssueAsync("carol", "viewer", null, Csr(key));
        var (second, _) = await _certificates.IssueAsync("carol", "admin", null, Csr(key));

        var serials = await _certificates.RevokeAsync("carol", "left");

        Assert.Equal(new[] { Pki.SerialOf(first), Pki.SerialOf(second) }.Order(), serials.Order());
        Assert.True(_denyList.IsDenied(first) && _denyList.IsDenied(second));
        Assert.All(_rig.Store.OperatorCertificates.Named("carol"), c => Assert.NotNull(c.RevokedAt));
        Assert.Equal(StatusCode.FailedPrecondition, (await Edge.ThrowsAsync(() => _certificates.RevokeAsync("carol", ""))).StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Edge.ThrowsAsync(() => _certificates.RevokeAsync("nobody", ""))).StatusCode);
        await _certificates.IssueAsync("dave", "admin", null, Csr(key));
        Actor.Set("dave");
        var self = await Edge.ThrowsAsync(() => _certificates.RevokeAsync("dave", ""));
        Actor.Set(null);
        Assert.Equal(StatusCode.FailedPrecondition, self.StatusCode);
    }
}
