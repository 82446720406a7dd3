using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using NodeFleet.Coordinator.Certificates;
using Events = NodeFleet.Coordinator.Events;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Security;

/// <summary>Who is calling, taken only from the verified client certificate.</summary>
public sealed record CallerIdentity(string Name, string Role, X509Certificate2 Certificate)
{
    public static CallerIdentity? From(ServerCallContext context)
    {
        var cert = context.GetHttpContext().Connection.ClientCertificate;
        if (cert is null) return null;
        var (cn, role) = Pki.ReadSubject(cert);
        return role is null || cn.Length == 0 ? null : new CallerIdentity(cn, role, cert);
    }

    public static CallerIdentity Require(ServerCallContext context) =>
        From(context) ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "a client certificate is required"));

    /// <summary>
    /// An operator certificate's role (its OU; none = admin, as certificates issued before roles were); null for a node's
    /// certificate or an OU that names no role.
    /// </summary>
    public OperatorRole? OperatorRole => Role == Roles.Admins ? OperatorRoles.OfUnit(Pki.ReadUnit(Certificate)) : null;

    /// <summary>The actor recorded in the events of the changes this caller makes.</summary>
    public string Actor => Role == Roles.Nodes ? Events.Actor.ForNode(Name) : Name;
}

/// <summary>
/// Deny-by-default authorization of every call, in one place: each method's row in <see cref="ApiPermissions"/> says
/// whether it is open (Bootstrap, health), for nodes (AgentLink) or for operators of at least a role. The TLS layer
/// already refused certificates not issued by the CA and revoked ones; here a certificate is refused once it has
/// expired, or was revoked while its connection stayed open. The caller becomes the actor of the call's events.
/// </summary>
public sealed class AuthorizationInterceptor(DenyList denyList, TimeProvider time, ILogger<AuthorizationInterceptor> log) : Interceptor
{
    /// <summary>The words telling a node's operator how to get a new certificate.</summary>
    public const string JoinAgain =
        "join the node again with a token (`nodefleet token create` on the coordinator, then `nodefleet-agent join --token TOKEN " +
        "--ca-cert-hash HASH ADDRESS` on the node: it keeps its name)";

    private void Check(ServerCallContext context)
    {
        Events.Actor.Set(null);
        var permission = ApiPermissions.For(context.Method)
            ?? throw new RpcException(new Status(StatusCode.PermissionDenied, $"{context.Method} is not allowed"));
        if (permission.Kind == Permission.OpenKind) return;
        var caller = CallerIdentity.Require(context);
        if (denyList.Entry(caller.Certificate) is { } revoked)
        {
            log.LogWarning("Refused {Role} {Name}: its certificate {Serial} was revoked at {RevokedAt:u}", caller.Role, caller.Name, revoked.Serial, revoked.RevokedAt);
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"the certificate {revoked.Serial} of {caller.Name} was revoked at {revoked.RevokedAt:u}" +
                (caller.Role == Roles.Nodes ? $"; {JoinAgain}" : "")));
        }
        var notAfter = caller.Certificate.NotAfter.ToUniversalTime();
        if (notAfter <= time.GetUtcNow().UtcDateTime)
        {
            log.LogWarning("Refused {Role} {Name}: its certificate {Serial} expired at {NotAfter:u}", caller.Role, caller.Name,
                Pki.SerialOf(caller.Certificate), notAfter);
            throw new RpcException(new Status(StatusCode.PermissionDenied, caller.Role == Roles.Nodes
                ? $"the certificate of node {caller.Name} expired at {notAfter:u} and can no longer be renewed; {JoinAgain}"
                : $"the certificate of {caller.Name} expired at {notAfter:u}; issue a new one from the coordinator's CA"));
        }
        if (permission.Kind == Permission.NodeKind)
        {
            if (caller.Role != Roles.Nodes)
                throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"this API is for nodes only; {caller.Role} {caller.Name} may not call {context.Method}"));
        }
        else
        {
            if (caller.Role != Roles.Admins)
                throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"the operator API requires an operator certificate; {caller.Role} {caller.Name} may not call {context.Method}"));
            var role = caller.OperatorRole
                ?? throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"the certificate of {caller.Name} names no known role (OU '{Pki.ReadUnit(caller.Certificate)}')"));
            if (role < permission.MinimumRole)
            {
                log.LogWarning("Refused {Name}: {Role} may not call {Method}", caller.Name, role.Name(), context.Method);
                throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"permission denied: {role.Name()} may not {permission.Action} ({caller.Name}; needs {permission.MinimumRole.Name()})"));
            }
        }
        Events.Actor.Set(caller.Actor);
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }
}
