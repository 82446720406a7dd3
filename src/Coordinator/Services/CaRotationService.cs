using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>`nodefleet ca rotate`: a thin adapter over <see cref="Certificates.CaRotation"/>; every answer is the status.</summary>
public sealed class CaRotationService(Certificates.CaRotation rotation, Security.CertificateAuthority ca) : NodeFleet.Protocol.V1.CaRotation.CaRotationBase
{
    public override async Task<RotateResponse> Start(RotateStartRequest request, ServerCallContext context)
    {
        await rotation.StartAsync();
        return Status();
    }

    public override async Task<RotateResponse> Reissue(RotateReissueRequest request, ServerCallContext context)
    {
        await rotation.ReissueAsync();
        return Status();
    }

    public override async Task<RotateResponse> Finish(RotateFinishRequest request, ServerCallContext context)
    {
        await rotation.FinishAsync(request.Force);
        return Status();
    }

    public override Task<RotateResponse> Status(RotateStatusRequest request, ServerCallContext context) => Task.FromResult(Status());

    private RotateResponse Status()
    {
        var response = new RotateResponse { Phase = ca.Phase, TrustBundlePem = ca.TrustBundlePem, JoinCaHash = ca.JoinHash };
        foreach (var a in ca.All)
        {
            var info = new CaInfo
            {
                Generation = a.Generation, Hash = a.Hash,
                CreatedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(a.CreatedAt, DateTimeKind.Utc)),
                NotAfter = Timestamp.FromDateTime(a.Certificate.NotAfter.ToUniversalTime()),
            };
            if (a.Generation == ca.ActiveGeneration) response.Active = info;
            else response.Other = info;
        }
        response.Nodes.AddRange(rotation.Progress().Select(n => new RotateNode
        {
            Name = n.Name, Generation = n.Generation, State = n.State, Status = n.Status, Error = n.Error,
        }));
        response.Operators.AddRange(rotation.OperatorsLeft().Select(o => new RotateOperator
        {
            Name = o.Name, Role = o.Role, Serial = o.Serial, ExpiresAt = Timestamp.FromDateTime(DateTime.SpecifyKind(o.ExpiresAt, DateTimeKind.Utc)),
        }));
        return response;
    }
}

/// <summary>`nodefleet admin renew`: the caller's own operator certificate, renewed.</summary>
public sealed class OperatorRenewalService(OperatorCertificates certificates, Security.CertificateAuthority ca) : OperatorRenewal.OperatorRenewalBase
{
    public override async Task<RenewOperatorResponse> Renew(RenewOperatorRequest request, ServerCallContext context)
    {
        var caller = Security.CallerIdentity.Require(context);
        var role = caller.OperatorRole ?? throw new Errors.PermissionDeniedException("only an operator certificate can be renewed here");
        var (certificate, record) = await certificates.RenewAsync(caller.Name, role, caller.Certificate, request.Csr);
        using (certificate)
            return new RenewOperatorResponse
            {
                Certificate = certificate.ExportCertificatePem(), TrustBundlePem = ca.TrustBundlePem, Serial = record.Serial,
                ExpiresAt = Timestamp.FromDateTime(DateTime.SpecifyKind(record.ExpiresAt, DateTimeKind.Utc)),
            };
    }
}
