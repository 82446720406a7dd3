using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The agent's side of renewal against a temp root, the coordinator played by a function that signs with a real CA:
/// a new key each time, the files replaced as a pair, refusals retried.
/// </summary>
public sealed class CertificateRenewalTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly ECDsa _caKey = Pki.NewKey();
    private readonly X509Certificate2 _ca;

    public CertificateRenewalTests()
    {
        _root = new HostRoot(_dir.Path);
        var now = DateTimeOffset.UtcNow;
        _ca = Pki.CreateCa(_caKey, "fleet-ca", TimeSpan.FromDays(10), now);
        using var key = Pki.NewKey();
        // Issued long enough ago that it is past its renewal point: the renewal starts at once.
        using var cert = Pki.IssueClient(_ca, _caKey, new PublicKey(key), "node-1", Roles.Nodes, TimeSpan.FromMinutes(10), now.AddMinutes(-9.5));
        Directory.CreateDirectory(_root.Path(AgentPaths.PkiDir));
        File.WriteAllText(_root.Path(AgentPaths.CaCert), Pki.ToPem(_ca));
        File.WriteAllText(_root.Path(AgentPaths.NodeCert), Pki.ToPem(cert));
        File.WriteAllText(_root.Path(AgentPaths.NodeKey), Pki.KeyToPem(key));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
        _dir.Dispose();
    }

    private string Key() => File.ReadAllText(_root.Path(AgentPaths.NodeKey));

    /// <summary>
    /// Runs renewals answered by <paramref name="answer"/> until one has succeeded (the renewer then schedules the next
    /// certificate's renewal, far off) and returns what the agent sent.
    /// </summary>
    private async Task<List<RenewCertificate>> RenewAsync(Func<RenewCertificate, CertificateRenewed> answer)
    {
        var requests = new List<RenewCertificate>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var scheduled = 0;
        CertificateRenewal? renewal = null;
        renewal = new CertificateRenewal(_root, "node-1", TimeProvider.System, NullLogger.Instance, (_, error) =>
        {
            // Called with no error each time a renewal is scheduled: first for the certificate on disk, then for the new one.
            if (error.Length == 0 && ++scheduled == 2) cts.Cancel();
        });
        var run = renewal.RunAsync(m =>
        {
            requests.Add(m.RenewCertificate);
            var reply = answer(m.RenewCertificate);
            _ = Task.Run(() => renewal.Answer(reply));
            return Task.CompletedTask;
        }, cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Equal(2, scheduled);
        return requests;
    }

    private CertificateRenewed Sign(RenewCertificate request, string name = "node-1", TimeSpan? validity = null)
    {
        var (_, _, key) = Pki.ReadCsr(request.CsrPem);
        using var cert = Pki.IssueClient(_ca, _caKey, key, name, Roles.Nodes, validity ?? TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        return new CertificateRenewed { RequestId = request.RequestId, CertificatePem = Pki.ToPem(cert) };
    }

    [Fact]
    public async Task A_renewal_sends_a_csr_for_a_new_key_and_writes_the_new_pair_with_the_key_private()
    {
        var before = Key();
        var requests = await RenewAsync(r => Sign(r));

        var (cn, role, csrKey) = Pki.ReadCsr(Assert.Single(requests).CsrPem);
        Assert.Equal(("node-1", (string?)Roles.Nodes), (cn, role));
        Assert.NotEqual(before, Key());
        var (ca, cert) = NodeIdentity.Load(_root);
        using (ca)
        using (cert)
        {
            Assert.Equal(Pki.SpkiSha256(csrKey), Pki.SpkiSha256(cert.PublicKey));
            Assert.True(cert.NotAfter > DateTime.UtcNow.AddHours(12));
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_root.Path(AgentPaths.NodeKey)));
        Assert.False(File.Exists(_root.Path(AgentPaths.NextNodeKey)));
    }

    [Fact]
    public async Task A_refusal_or_a_certificate_for_another_name_is_retried_and_the_local_failure_told_with_the_next_attempt()
    {
        var before = Key();
        var n = 0;
        var requests = await RenewAsync(r => ++n switch
        {
            1 => new CertificateRenewed { RequestId = r.RequestId, Error = "the store is down" },
            2 => Sign(r, "node-2"),
            _ => Sign(r),
        });

        Assert.Equal(3, requests.Count);
        Assert.Equal("", requests[1].PreviousFailure); // a refusal the coordinator recorded itself
        Assert.Contains("names node-2, not node-1", requests[2].PreviousFailure);
        Assert.NotEqual(before, Key());
        NodeIdentity.Load(_root).Cert.Dispose();
    }

    [Fact]
    public void A_renewal_stopped_after_writing_the_certificate_is_finished_at_the_next_load()
    {
        using var key = Pki.NewKey();
        using var cert = Pki.IssueClient(_ca, _caKey, new PublicKey(key), "node-1", Roles.Nodes, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        File.WriteAllText(_root.Path(AgentPaths.NextNodeKey), Pki.KeyToPem(key));
        File.WriteAllText(_root.Path(AgentPaths.NodeCert), Pki.ToPem(cert));

        var (ca, loaded) = NodeIdentity.Load(_root);
        using (ca)
        using (loaded)
            Assert.Equal(cert.SerialNumber, loaded.SerialNumber);
        Assert.Equal(Pki.KeyToPem(key), Key());
        Assert.False(File.Exists(_root.Path(AgentPaths.NextNodeKey)));
    }

    [Fact]
    public void A_renewal_stopped_before_writing_the_certificate_leaves_the_old_pair_in_use()
    {
        var before = Key();
        using var key = Pki.NewKey();
        File.WriteAllText(_root.Path(AgentPaths.NextNodeKey), Pki.KeyToPem(key));

        NodeIdentity.Load(_root).Cert.Dispose();
        Assert.Equal(before, Key());
    }

    [Fact]
    public async Task During_a_ca_rotation_a_certificate_of_the_new_ca_in_the_trust_bundle_is_taken_and_renew_now_does_not_wait()
    {
        using var newKey = Pki.NewKey();
        using var newCa = Pki.CreateCa(newKey, "fleet-ca-2", TimeSpan.FromDays(10), DateTimeOffset.UtcNow);
        File.WriteAllText(_root.Path(AgentPaths.CaCert), Pki.ToPem(newCa) + "\n" + Pki.ToPem(_ca) + "\n");
        // A fresh certificate, far from its renewal point: only RenewNow starts a renewal.
        using (var key = Pki.NewKey())
        using (var cert = Pki.IssueClient(_ca, _caKey, new PublicKey(key), "node-1", Roles.Nodes, TimeSpan.FromDays(1), DateTimeOffset.UtcNow))
        {
            File.WriteAllText(_root.Path(AgentPaths.NodeCert), Pki.ToPem(cert));
            File.WriteAllText(_root.Path(AgentPaths.NodeKey), Pki.KeyToPem(key));
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var renewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        CertificateRenewal? renewal = null;
        renewal = new CertificateRenewal(_root, "node-1", TimeProvider.System, NullLogger.Instance, (_, _) => { });
        renewal.RenewNow("the fleet's CA is being rotated");
        var run = renewal.RunAsync(m =>
        {
            var (_, _, key) = Pki.ReadCsr(m.RenewCertificate.CsrPem);
            using var cert = Pki.IssueClient(newCa, newKey, key, "node-1", Roles.Nodes, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
            var reply = new CertificateRenewed { RequestId = m.RenewCertificate.RequestId, CertificatePem = Pki.ToPem(cert) };
            _ = Task.Run(() =>
            {
                renewal.Answer(reply);
                renewed.TrySetResult();
            });
            return Task.CompletedTask;
        }, cts.Token);
        await renewed.Task.WaitAsync(cts.Token);
        // The answer is handed over; the files are written right after it, on the renewer's side.
        bool FromNewCa()
        {
            using var onDisk = X509Certificate2.CreateFromPem(File.ReadAllText(_root.Path(AgentPaths.NodeCert)));
            return Pki.ChainsTo(onDisk, newCa, CertificateUsage.Client, DateTimeOffset.UtcNow);
        }
        while (!FromNewCa()) await Task.Delay(50, cts.Token);
        cts.Cancel();
        // Stopped: by the cancellation while it waits for the next renewal, or (cancelled as it came back to the top of
        // its loop after writing the files) by returning; anything else fails here, and so does not stopping.
        try { await run.WaitAsync(TimeSpan.FromSeconds(10)); }
        catch (OperationCanceledException) { }
    }
}
