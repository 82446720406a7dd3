using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Certificates;

/// <summary>
/// A CA rotation with operator certificates, over a real LiteDB file: finish is refused while an operator holds only a
/// certificate of the old CA, and allowed once it renewed, was revoked, or with force.
/// </summary>
public sealed class CaRotationOperatorTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly ManualTime _time = new();
    private readonly EventBus _events = new();
    private ICoordinatorStore _store = null!;
    private CertificateAuthority _ca = null!;
    private CaRotation _rotation = null!;
    private OperatorCertificates _operators = null!;

    public async Task InitializeAsync()
    {
        _store = new LiteDbStore(_dir.File(LiteDbStore.FileName));
        using var caKey = Pki.NewKey();
        using var caCert = Pki.CreateCa(caKey, "nodefleet-ca", TimeSpan.FromDays(3650), _time.GetUtcNow());
        var first = FleetAuthorities.Record(caCert, caKey, 1, CertificateAuthorityRecord.Active, _time.GetUtcNow().UtcDateTime);
        await _store.WriteAsync(s => s.Authorities.Insert(first));
        _ca = new CertificateAuthority(FleetAuthorities.Authorities([first], "test"), _time);

        var dir = new DataDirectory(_dir.Path);
        Directory.CreateDirectory(dir.PkiDir);
        using var servingKey = Pki.NewKey();
        using var serving = _ca.IssueServing(servingKey, ["localhost"], TimeSpan.FromDays(30));
        var refresher = new TrustRefresher(_ca, _store, new ServingCertificate(serving.CopyWithPrivateKey(servingKey)), dir,
            Options.Create(new CoordinatorOptions()), NullLogger<TrustRefresher>.Instance);
        _rotation = new CaRotation(_store, _ca, refresher, new NodeFleet.Coordinator.Nodes.Presence(_time), _events, _time,
            NullLogger<CaRotation>.Instance);
        _operators = new OperatorCertificates(_store, _ca, _events, _time, NullLogger<OperatorCertificates>.Instance, new DenyList());
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private static string Csr(ECDsa key) =>
        new CertificateRequest(new X500DistinguishedName("CN=x"), key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

    private async Task<X509Certificate2> IssueAsync(string name, string role)
    {
        using var key = Pki.NewKey();
        var (cert, record) = await _operators.IssueAsync(name, role, null, Csr(key));
        Assert.Equal(_ca.ActiveGeneration, record.CaGeneration);
        return cert;
    }

    /// <summary>Issues alice (operator) and bob (viewer) from the first CA, then starts and reissues.</summary>
    private async Task<X509Certificate2> ReissuingWithAliceAndBobAsync()
    {
        var alice = await IssueAsync("alice", "operator");
        (await IssueAsync("bob", "viewer")).Dispose();
        await _rotation.StartAsync();
        Assert.Empty(_rotation.OperatorsLeft());
        await _rotation.ReissueAsync();
        return alice;
    }

    [Fact]
    public async Task Finish_is_refused_naming_the_operators_left_on_the_old_ca_and_allowed_once_renewed_or_revoked()
    {
        using var alice = await ReissuingWithAliceAndBobAsync();
        Assert.Equal([("alice", "operator", 1), ("bob", "viewer", 1)],
            _rotation.OperatorsLeft().Select(o => (o.Name, o.Role, o.Generation)).OrderBy(o => o.Name));

        var refused = await Edge.ThrowsAsync(() => _rotation.FinishAsync(force: false));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("alice (operator", refused.Status.Detail);
        Assert.Contains("bob (viewer", refused.Status.Detail);
        Assert.Contains("nodefleet admin renew", refused.Status.Detail);
        Assert.Equal("reissuing", _ca.Phase);

        // alice renews from the new CA: her old certificate, still live, no longer counts; bob is revoked.
        using var key = Pki.NewKey();
        var (renewed, record) = await _operators.RenewAsync("alice", OperatorRole.Operator, alice, Csr(key));
        renewed.Dispose();
        Assert.Equal(2, record.CaGeneration);
        Assert.Equal(["bob"], _rotation.OperatorsLeft().Select(o => o.Name));
        Assert.Contains("bob (viewer", (await Edge.ThrowsAsync(() => _rotation.FinishAsync(force: false))).Status.Detail);
        await _operators.RevokeAsync("bob", "left");
        Assert.Empty(_rotation.OperatorsLeft());

        Assert.Empty(await _rotation.FinishAsync(force: false));
        Assert.Equal("none", _ca.Phase);
        Assert.Equal(2, _ca.ActiveGeneration);
    }

    [Fact]
    public async Task Finish_with_force_goes_ahead_and_names_the_operators_who_lost_access_in_its_event()
    {
        (await ReissuingWithAliceAndBobAsync()).Dispose();

        await _rotation.FinishAsync(force: true);

        Assert.Equal("none", _ca.Phase);
        var finished = Assert.Single(_store.Events.Newest(new EventQuery(20)), e => e.Reason == "CaRotationFinished");
        Assert.Equal("Warning", finished.Type);
        Assert.Contains("operator alice (operator)", finished.Message);
        Assert.Contains("operator bob (viewer)", finished.Message);
    }

    [Fact]
    public async Task An_expired_operator_certificate_of_the_old_ca_does_not_hold_finish_back()
    {
        using var key = Pki.NewKey();
        (await _operators.IssueAsync("carol", "viewer", TimeSpan.FromHours(1), Csr(key))).Certificate.Dispose();
        await _rotation.StartAsync();
        await _rotation.ReissueAsync();
        Assert.Equal(["carol"], _rotation.OperatorsLeft().Select(o => o.Name));

        _time.Advance(TimeSpan.FromHours(2));

        Assert.Empty(_rotation.OperatorsLeft());
        Assert.Empty(await _rotation.FinishAsync(force: false));
    }

    [Fact]
    public void An_operator_certificate_recorded_before_generations_were_kept_counts_as_generation_one() =>
        Assert.Equal(1, CaRotation.Generation(new OperatorCertificateRecord { Name = "old" }));
}
