using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Security;

/// <summary>The coordinator's CA: verifies client certificates and signs node and serving certificates.</summary>
/// <param name="alsoTrusted">Other CAs of the fleet whose client certificates are accepted (during a CA rotation).</param>
public sealed class CertificateAuthority(X509Certificate2 certificate, ECDsa key, TimeProvider time, TimeSpan? nodeLifetime = null,
    IReadOnlyList<X509Certificate2>? alsoTrusted = null)
{
    /// <summary>The default of the nodeCertificateLifetime setting: agents renew well before it runs out.</summary>
    public static readonly TimeSpan DefaultNodeCertificateValidity = TimeSpan.FromDays(30);

    public X509Certificate2 Certificate { get; } = certificate;
    public string CertificatePem { get; } = certificate.ExportCertificatePem();
    public string Hash { get; } = CaHash.Of(certificate);
    public TimeSpan NodeCertificateValidity { get; } = nodeLifetime ?? DefaultNodeCertificateValidity;

    public X509Certificate2 IssueNode(string nodeName, PublicKey publicKey) =>
        Pki.IssueClient(Certificate, key, publicKey, nodeName, Roles.Nodes, NodeCertificateValidity, time.GetUtcNow());

    /// <summary>An operator certificate: O = admins, OU = the role, CN = the operator's name.</summary>
    public X509Certificate2 IssueOperator(string name, OperatorRole role, PublicKey publicKey, TimeSpan validity) =>
        Pki.IssueClient(Certificate, key, publicKey, name, Roles.Admins, validity, time.GetUtcNow(), role.Name());

    /// <summary>A serving certificate for <paramref name="names"/> with the serving key <paramref name="servingKey"/>.</summary>
    public X509Certificate2 IssueServing(ECDsa servingKey, IEnumerable<string> names, TimeSpan validity) =>
        Pki.IssueServing(Certificate, key, servingKey, "nodefleet-coordinator", names, validity, time.GetUtcNow());

    /// <summary>The other CAs trusted beside this one.</summary>
    public IReadOnlyList<X509Certificate2> AlsoTrusted { get; } = alsoTrusted ?? [];

    public bool Trusts(X509Certificate2 clientCertificate) =>
        new[] { Certificate }.Concat(AlsoTrusted).Any(c => Pki.ChainsTo(clientCertificate, c, CertificateUsage.Client, time.GetUtcNow()));

    /// <summary>
    /// Whether this CA issued <paramref name="clientCertificate"/> as a client certificate, whatever the time: the
    /// handshake lets an expired one through so that the call can be refused with a reason (join again) rather than
    /// with a bare TLS alert. Every call checks the expiry (<see cref="AuthorizationInterceptor"/>).
    /// </summary>
    public bool Issued(X509Certificate2 clientCertificate)
    {
        var middle = clientCertificate.NotBefore.ToUniversalTime() + (clientCertificate.NotAfter - clientCertificate.NotBefore) / 2;
        return new[] { Certificate }.Concat(AlsoTrusted)
            .Any(c => Pki.ChainsTo(clientCertificate, c, CertificateUsage.Client, new DateTimeOffset(middle, TimeSpan.Zero)));
    }
}
