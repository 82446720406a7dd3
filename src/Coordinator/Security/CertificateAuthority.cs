using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Security;

/// <summary>The coordinator's CA: verifies client certificates and signs node certificates.</summary>
public sealed class CertificateAuthority(X509Certificate2 certificate, ECDsa key, TimeProvider time)
{
    public static readonly TimeSpan NodeCertificateValidity = TimeSpan.FromDays(365);

    public X509Certificate2 Certificate { get; } = certificate;
    public string CertificatePem { get; } = certificate.ExportCertificatePem();
    public string Hash { get; } = CaHash.Of(certificate);

    public X509Certificate2 IssueNode(string nodeName, PublicKey publicKey) =>
        Pki.IssueClient(Certificate, key, publicKey, nodeName, Roles.Nodes, NodeCertificateValidity, time.GetUtcNow());

    public bool Trusts(X509Certificate2 clientCertificate) =>
        Pki.ChainsTo(clientCertificate, Certificate, CertificateUsage.Client, time.GetUtcNow());
}
