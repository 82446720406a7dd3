using Grpc.Core;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The operator-certificate API (`nodefleet admin`): a thin adapter over <see cref="OperatorCertificates"/>.</summary>
public sealed class AdminsService(OperatorCertificates certificates, CertificateAuthority ca, ICoordinatorStore store) : Admins.AdminsBase
{
    public override async Task<IssueAdminResponse> Issue(IssueAdminRequest request, ServerCallContext context)
    {
        var (certificate, record) = await certificates.IssueAsync(request.Name, request.Role, request.Ttl?.ToTimeSpan(), request.Csr);
        using (certificate)
            return new IssueAdminResponse
            {
                Certificate = certificate.ExportCertificatePem(),
                CaCertificate = ca.TrustBundlePem,
                AdvertiseAddress = store.Cluster.Get()?.AdvertiseAddress ?? "",
                Info = ToMessage(record),
            };
    }

    public override Task<ListAdminsResponse> List(ListAdminsRequest request, ServerCallContext context)
    {
        var response = new ListAdminsResponse();
        response.Admins.AddRange(certificates.List().Select(ToMessage));
        return Task.FromResult(response);
    }

    public override async Task<RevokeAdminResponse> Revoke(RevokeAdminRequest request, ServerCallContext context) =>
        new() { Serials = { await certificates.RevokeAsync(request.Name, request.Reason) } };

    private static OperatorCertificate ToMessage(OperatorCertificateRecord r)
    {
        var m = new OperatorCertificate
        {
            Name = r.Name, Role = r.Role, Serial = r.Serial, IssuedAt = FactsMapping.Ts(r.IssuedAt), ExpiresAt = FactsMapping.Ts(r.ExpiresAt),
            IssuedBy = r.IssuedBy,
        };
        if (r.RevokedAt is { } revoked) m.RevokedAt = FactsMapping.Ts(revoked);
        return m;
    }
}
