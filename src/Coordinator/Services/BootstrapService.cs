using Grpc.Core;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Services;

/// <summary>Discovery and join: the calls a node makes before it has a certificate.</summary>
public sealed class BootstrapService(TokenService tokens, NodeRegistry registry, CertificateAuthority ca)
    : Bootstrap.BootstrapBase
{
    public override Task<DiscoverResponse> Discover(DiscoverRequest request, ServerCallContext context)
    {
        if (!BootstrapToken.IsValidId(request.TokenId))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{request.TokenId}' is not a token id ([a-z0-9]{{6}})"));
        var record = tokens.RequireUsable(request.TokenId);
        return Task.FromResult(new DiscoverResponse
        {
            CaCertificatePem = ca.CertificatePem,
            Jws = Jws.SignHs256(ca.CertificatePem, record.Id, record.DiscoveryKey),
        });
    }

    public override async Task<JoinResponse> Join(JoinRequest request, ServerCallContext context)
    {
        var peer = context.GetHttpContext().Connection.RemoteIpAddress?.ToString() ?? "";
        var cert = await registry.JoinAsync(request, peer);
        return new JoinResponse
        {
            NodeName = request.NodeName,
            CertificatePem = cert.ExportCertificatePem(),
            CaCertificatePem = ca.CertificatePem,
        };
    }
}
