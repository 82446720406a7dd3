using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Security;

/// <summary>
/// The fleet's CAs as this coordinator uses them: the active one signs node and operator certificates; during a rotation
/// (`nodefleet ca rotate`) a second one is trusted beside it. The serving certificate comes from the oldest CA kept, so
/// that it changes to the new CA only when the rotation finishes, after every agent was given the trust bundle.
/// Replaced as a whole when the store's records change (<see cref="Update"/>).
/// </summary>
public sealed class CertificateAuthority
{
    /// <summary>The default of the nodeCertificateLifetime setting: agents renew well before it runs out.</summary>
    public static readonly TimeSpan DefaultNodeCertificateValidity = TimeSpan.FromDays(30);

    /// <summary>One CA with its key.</summary>
    public sealed record Authority(int Generation, string State, X509Certificate2 Certificate, ECDsa Key, DateTime CreatedAt)
    {
        public string Hash { get; } = CaHash.Of(Certificate);
    }

    private sealed record Snapshot(IReadOnlyList<Authority> All, Authority Active, Authority Serving, string BundlePem, string Fingerprint);

    private readonly TimeProvider _time;
    private volatile Snapshot _current;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A fleet of one CA (generation 1).</summary>
    public CertificateAuthority(X509Certificate2 certificate, ECDsa key, TimeProvider time, TimeSpan? nodeLifetime = null)
        : this([new Authority(1, CertificateAuthorityRecord.Active, certificate, key, time.GetUtcNow().UtcDateTime)], time, nodeLifetime)
    {
    }

    public CertificateAuthority(IReadOnlyList<Authority> authorities, TimeProvider time, TimeSpan? nodeLifetime = null)
    {
        _time = time;
        NodeCertificateValidity = nodeLifetime ?? DefaultNodeCertificateValidity;
        _current = Build(authorities);
    }

    public TimeSpan NodeCertificateValidity { get; }

    /// <summary>The CA that signs.</summary>
    public X509Certificate2 Certificate => _current.Active.Certificate;
    public int ActiveGeneration => _current.Active.Generation;
    /// <summary>The CA the serving certificate must come from (the oldest kept).</summary>
    public X509Certificate2 ServingCertificate => _current.Serving.Certificate;
    public IReadOnlyList<Authority> All => _current.All;
    /// <summary>Every CA trusted, PEM, concatenated (active first): what discovery, joins, agents and CLI configs get.</summary>
    public string TrustBundlePem => _current.BundlePem;
    /// <summary>sha256:hex of <see cref="TrustBundlePem"/>, as agents acknowledge it.</summary>
    public string TrustBundleHash => _current.Fingerprint;
    /// <summary>The hash new joins pin: the newest CA's, the one a rotation keeps.</summary>
    public string JoinHash => _current.All[^1].Hash;
    /// <summary>The active CA's hash.</summary>
    public string Hash => _current.Active.Hash;

    /// <summary>"none", "started" (a next CA is trusted, not signing) or "reissuing" (a previous CA is still trusted).</summary>
    public string Phase => _current.All.Count == 1 ? "none"
        : _current.All.Any(a => a.State == CertificateAuthorityRecord.Next) ? "started" : "reissuing";

    /// <summary>Completes at the next <see cref="Update"/> that changes the CAs.</summary>
    public Task WhenChanged => Volatile.Read(ref _changed).Task;

    /// <summary>Takes the store's records; returns whether anything changed.</summary>
    public bool Update(IReadOnlyList<CertificateAuthorityRecord> records)
    {
        var key = string.Join("|", records.Select(r => $"{r.Generation}:{r.State}"));
        if (key == string.Join("|", _current.All.Select(a => $"{a.Generation}:{a.State}"))) return false;
        var all = records.Select(r =>
        {
            var existing = _current.All.FirstOrDefault(a => a.Generation == r.Generation);
            if (existing is not null) return existing with { State = r.State };
            var cert = X509Certificate2.CreateFromPem(r.CertificatePem);
            var k = ECDsa.Create();
            k.ImportFromPem(r.KeyPem);
            return new Authority(r.Generation, r.State, cert, k, r.CreatedAt);
        }).ToList();
        _current = Build(all);
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return true;
    }

    private static Snapshot Build(IReadOnlyList<Authority> authorities)
    {
        var all = authorities.OrderBy(a => a.Generation).ToList();
        var active = all.Single(a => a.State == CertificateAuthorityRecord.Active);
        var bundle = string.Concat(new[] { active }.Concat(all.Where(a => a != active)).Select(a => a.Certificate.ExportCertificatePem() + "\n"));
        return new Snapshot(all, active, all[0], bundle, CaBundle.Hash(bundle));
    }

    /// <summary>The generation of the CA that issued <paramref name="cert"/>, whatever the time; 0 when none kept did.</summary>
    public int GenerationOf(X509Certificate2 cert)
    {
        var middle = Middle(cert);
        return _current.All.FirstOrDefault(a => Pki.ChainsTo(cert, a.Certificate, CertificateUsage.Client, middle))?.Generation ?? 0;
    }

    public X509Certificate2 IssueNode(string nodeName, PublicKey publicKey)
    {
        var a = _current.Active;
        return Pki.IssueClient(a.Certificate, a.Key, publicKey, nodeName, Roles.Nodes, NodeCertificateValidity, _time.GetUtcNow());
    }

    /// <summary>An operator certificate: O = admins, OU = the role, CN = the operator's name.</summary>
    public X509Certificate2 IssueOperator(string name, OperatorRole role, PublicKey publicKey, TimeSpan validity)
    {
        var a = _current.Active;
        return Pki.IssueClient(a.Certificate, a.Key, publicKey, name, Roles.Admins, validity, _time.GetUtcNow(), role.Name());
    }

    /// <summary>A serving certificate for <paramref name="names"/> with the serving key, from the serving CA.</summary>
    public X509Certificate2 IssueServing(ECDsa servingKey, IEnumerable<string> names, TimeSpan validity)
    {
        var a = _current.Serving;
        return Pki.IssueServing(a.Certificate, a.Key, servingKey, "nodefleet-coordinator", names, validity, _time.GetUtcNow());
    }

    public bool Trusts(X509Certificate2 clientCertificate) =>
        _current.All.Any(a => Pki.ChainsTo(clientCertificate, a.Certificate, CertificateUsage.Client, _time.GetUtcNow()));

    /// <summary>
    /// Whether a CA kept issued <paramref name="clientCertificate"/> as a client certificate, whatever the time: the
    /// handshake lets an expired one through so that the call can be refused with a reason (join again) rather than
    /// with a bare TLS alert. Every call checks the expiry (<see cref="AuthorizationInterceptor"/>).
    /// </summary>
    public bool Issued(X509Certificate2 clientCertificate) => GenerationOf(clientCertificate) != 0;

    private static DateTimeOffset Middle(X509Certificate2 cert)
    {
        var middle = cert.NotBefore.ToUniversalTime() + (cert.NotAfter - cert.NotBefore) / 2;
        return new DateTimeOffset(middle, TimeSpan.Zero);
    }
}
