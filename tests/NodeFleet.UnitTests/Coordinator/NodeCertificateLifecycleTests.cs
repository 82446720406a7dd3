using Grpc.Core;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>Renewal and revocation on the node aggregate, over a real LiteDB file.</summary>
public sealed class NodeCertificateLifecycleTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private NodeRegistry Registry => _rig.Registry;

    [Fact]
    public async Task Renewal_issues_a_certificate_for_the_new_key_and_records_it_before_answering()
    {
        var (cert, key) = await _rig.JoinAsync(await _rig.CreateTokenAsync(), "w1");
        using var _ = key;
        using var newKey = Pki.NewKey();

        using var renewed = await Registry.RenewAsync("w1", cert, Pki.CreateCsrPem(newKey, "w1"));

        Assert.Equal(newKey.ExportSubjectPublicKeyInfo(), renewed.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(("w1", (string?)Roles.Nodes), Pki.ReadSubject(renewed));
        var node = Registry.Get("w1");
        Assert.Equal((renewed.SerialNumber, cert.SerialNumber), (node.CertificateSerial, node.PreviousCertificateSerial));
        Assert.Equal(NodeRegistry.Fingerprint(renewed), node.CertificateFingerprint);
        Assert.NotNull(node.CertificateRenewedAt);
        Assert.Contains(Registry.Events("w1", 10), e => e.Reason == "CertificateRenewed");
        // The renewed certificate authenticates the node from the next stream on; the old one no longer does.
        Registry.Authenticate("w1", renewed);
        Assert.Equal(StatusCode.PermissionDenied, Edge.Throws(() => Registry.Authenticate("w1", cert)).StatusCode);
    }

    [Fact]
    public async Task A_request_for_another_name_is_refused_and_the_refusal_is_recorded_on_the_node()
    {
        var (cert, key) = await _rig.JoinAsync(await _rig.CreateTokenAsync(), "w1");
        using var _ = key;
        using var newKey = Pki.NewKey();

        var e = await Edge.ThrowsAsync(() => Registry.RenewAsync("w1", cert, Pki.CreateCsrPem(newKey, "w2")));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("not for node w1", e.Status.Detail);
        var node = Registry.Get("w1");
        Assert.Contains("not for node w1", node.CertificateRenewalError);
        Assert.Equal(cert.SerialNumber, node.CertificateSerial);
        Assert.Contains(Registry.Events("w1", 10), ev => ev.Reason == "CertificateRenewalFailed");
    }

    [Fact]
    public async Task Revoke_lists_the_current_and_the_replaced_certificate_and_a_new_join_takes_the_name_back()
    {
        var (cert, key) = await _rig.JoinAsync(await _rig.CreateTokenAsync(), "w1");
        using var _ = key;
        using var newKey = Pki.NewKey();
        using var renewed = await Registry.RenewAsync("w1", cert, Pki.CreateCsrPem(newKey, "w1"));

        var serials = await Registry.RevokeAsync("w1", "key leaked");

        Assert.Equal([renewed.SerialNumber, cert.SerialNumber], serials);
        Assert.Equal(serials.Order(), _rig.Store.Revocations.List().Select(r => r.Serial));
        Assert.NotNull(Registry.Get("w1").RevokedAt);
        var refused = Edge.Throws(() => Registry.Authenticate("w1", renewed));
        Assert.Contains("join the node again with a token", refused.Status.Detail);
        Assert.Contains(Registry.Events("w1", 10), ev => ev.Reason == "Revoked" && ev.Message.Contains("key leaked"));

        // Any key may take the name with a token; the new certificate is not on the list.
        var (rejoined, rejoinKey) = await _rig.JoinAsync(await _rig.CreateTokenAsync(), "w1");
        using var __ = rejoinKey;
        Assert.Null(Registry.Get("w1").RevokedAt);
        Assert.Null(_rig.Store.Revocations.Get(rejoined.SerialNumber));
        Registry.Authenticate("w1", rejoined);
    }

    [Fact]
    public async Task Delete_puts_the_nodes_certificate_on_the_deny_list()
    {
        var (cert, key) = await _rig.JoinAsync(await _rig.CreateTokenAsync(), "w1");
        using var _ = key;
        await Registry.DeleteAsync("w1");
        Assert.Equal("w1", _rig.Store.Revocations.Get(cert.SerialNumber)!.Subject);
    }

    [Fact]
    public void The_renewal_point_lies_between_70_and_90_percent_of_the_lifetime()
    {
        var start = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(start.AddDays(21), Pki.RenewalTime(start, start.AddDays(30), 0));
        Assert.Equal(start.AddDays(27), Pki.RenewalTime(start, start.AddDays(30), 1));
        Assert.Equal(start.AddDays(24), Pki.RenewalTime(start, start.AddDays(30), 0.5));
    }

    [Fact]
    public void A_serving_certificate_longer_than_the_setting_is_renewed_on_the_settings_lifetime()
    {
        using var caKey = Pki.NewKey();
        var now = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        using var ca = Pki.CreateCa(caKey, "ca", TimeSpan.FromDays(3650), now);
        using var key = Pki.NewKey();
        using var serving = Pki.IssueServing(ca, caKey, key, "c", ["127.0.0.1"], TimeSpan.FromDays(365), now);
        var notBefore = new DateTimeOffset(serving.NotBefore.ToUniversalTime(), TimeSpan.Zero);

        Assert.Equal(notBefore + TimeSpan.FromDays(7), ServingCertificateRenewer.RenewalTime(serving, TimeSpan.FromDays(10), 0));
        Assert.Equal(notBefore + (serving.NotAfter.ToUniversalTime() - serving.NotBefore.ToUniversalTime()) * 0.9,
            ServingCertificateRenewer.RenewalTime(serving, TimeSpan.FromDays(3650), 1));
    }
}
