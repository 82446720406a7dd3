using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Security;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>
/// What the TLS handshake accepts as a client certificate: one this CA issued for client use and that is not on the
/// deny list. An expired node certificate passes here and is refused per call, with the way out (join again,
/// <see cref="AuthorizationInterceptor"/>), which an agent can log; other expired certificates are refused here, where
/// the CLI already explains a refused certificate by reading its own.
/// </summary>
public sealed class ClientCertificateCheck(CertificateAuthority ca, DenyList denyList, ILogger<ClientCertificateCheck> log)
{
    public bool Accept(X509Certificate2 cert)
    {
        var node = Pki.ReadSubject(cert).Role == Roles.Nodes;
        if (!(node ? ca.Issued(cert) : ca.Trusts(cert))) return false;
        if (denyList.Entry(cert) is not { } revoked) return true;
        var (name, role) = Pki.ReadSubject(cert);
        log.LogWarning("Refused the revoked certificate {Serial} of {Role} {Name} at the handshake (revoked at {RevokedAt:u}: {Reason})",
            revoked.Serial, role, name, revoked.RevokedAt, revoked.Reason);
        return false;
    }
}
