using System.Net;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using NodeFleet.Coordinator.Admission;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Services;

/// <summary>Discovery and join: the calls a node makes before it has a certificate.</summary>
public sealed partial class BootstrapService(TokenService tokens, NodeRegistry registry, CertificateAuthority ca, JoinGuard guard,
    ILogger<BootstrapService> log) : Bootstrap.BootstrapBase
{
    private static IPAddress SourceOf(ServerCallContext context) =>
        ConnectionAdmission.Source(context.GetHttpContext().Connection.RemoteIpAddress);

    public override Task<DiscoverResponse> Discover(DiscoverRequest request, ServerCallContext context)
    {
        var source = SourceOf(context);
        guard.Check(source);
        if (!BootstrapToken.IsValidId(request.TokenId))
        {
            guard.Failed(source, "discovery", request.TokenId, "not a token id");
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{request.TokenId}' is not a token id ([a-z0-9]{{6}})"));
        }
        TokenRecord record;
        try { record = tokens.RequireUsable(request.TokenId); }
        catch (PermissionDeniedException e)
        {
            guard.Failed(source, "discovery", request.TokenId, e.Message);
            throw;
        }
        return Task.FromResult(new DiscoverResponse
        {
            CaCertificatePem = ca.TrustBundlePem,
            Jws = Jws.SignHs256(ca.TrustBundlePem, record.Id, record.DiscoveryKey),
        });
    }

    public override async Task<JoinResponse> Join(JoinRequest request, ServerCallContext context)
    {
        var source = SourceOf(context);
        guard.Check(source);
        var peer = context.GetHttpContext().Connection.RemoteIpAddress?.ToString() ?? "";
        var tokenId = request.Token.Split('.')[0];
        System.Security.Cryptography.X509Certificates.X509Certificate2 cert;
        // The join is the node's own change, made with its token: its Joined event names it as the actor.
        Events.Actor.Set(Events.Actor.ForNode(request.NodeName));
        try { cert = await registry.JoinAsync(request, peer); }
        catch (DomainException e) when (e is PermissionDeniedException or InvalidArgumentException)
        {
            guard.Failed(source, "join", tokenId, e.Message);
            if (e is WrongTokenSecretException wrong && await tokens.CountWrongSecretAsync(wrong.TokenId))
                LogLocked(log, wrong.TokenId, TokenService.LockAfterFailures, source);
            throw;
        }
        return new JoinResponse
        {
            NodeName = request.NodeName,
            CertificatePem = cert.ExportCertificatePem(),
            CaCertificatePem = ca.TrustBundlePem,
        };
    }

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning,
        Message = "Token {TokenId} locked after {Failures} joins with a wrong secret (the last from {Source}); delete it and create another")]
    private static partial void LogLocked(ILogger logger, string tokenId, int failures, IPAddress source);
}
