using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
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
/// expired, or was revoked while its connection stayed open. The caller becomes the actor of the call's events; an
/// operator refused for its role is recorded as an event too, so that the attempt shows in `nodefleet events`.
/// </summary>
public sealed class AuthorizationInterceptor(DenyList denyList, TimeProvider time, ILogger<AuthorizationInterceptor> log,
    ICoordinatorStore store, EventBus bus) : Interceptor
{
    /// <summary>The words telling a node's operator how to get a new certificate.</summary>
    public const string JoinAgain =
        "join the node again with a token (`nodefleet token create` on the coordinator, then `nodefleet-agent join --token TOKEN " +
        "--ca-cert-hash HASH ADDRESS` on the node: it keeps its name)";

    /// <summary>Refuses the call unless its caller may make it; returns the actor of its events (null for an open method).</summary>
    private async Task<string?> AuthorizeAsync(ServerCallContext context)
    {
        var permission = ApiPermissions.For(context.Method)
            ?? throw new RpcException(new Status(StatusCode.PermissionDenied, $"{context.Method} is not allowed"));
        if (permission.Kind == Permission.OpenKind) return null;
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
                    $"the operator API requires an admin certificate (admin.conf, or one from `nodefleet admin issue`); {caller.Role} {caller.Name} may not call {context.Method}"));
            var role = caller.OperatorRole
                ?? throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"the certificate of {caller.Name} names no known role (OU '{Pki.ReadUnit(caller.Certificate)}')"));
            if (role < permission.MinimumRole)
            {
                var refusal = $"permission denied: {role.Name()} may not {permission.Action} ({caller.Name}; needs {permission.MinimumRole.Name()})";
                log.LogWarning("Refused {Name}: {Role} may not call {Method}", caller.Name, role.Name(), context.Method);
                await RecordRefusalAsync(caller.Actor, $"{refusal}: {context.Method}");
                throw new RpcException(new Status(StatusCode.PermissionDenied, refusal));
            }
        }
        return caller.Actor;
    }

    private async Task RecordRefusalAsync(string actor, string message)
    {
        try
        {
            await store.WriteAsync(s => s.AddEvent(bus, new EventRecord
            {
                Time = time.GetUtcNow().UtcDateTime, Type = "Warning", Reason = "PermissionDenied", Message = message, Actor = actor,
            }));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The refusal stands whether or not it could be recorded.
            log.LogWarning("Cannot record a refused call: {Error}", e.Message);
        }
    }

    // Each handler sets the actor itself, after the await: a value set inside AuthorizeAsync would not flow back out of it.
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Events.Actor.Set(await AuthorizeAsync(context));
        return await continuation(request, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Events.Actor.Set(await AuthorizeAsync(context));
        await continuation(requestStream, responseStream, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Events.Actor.Set(await AuthorizeAsync(context));
        await continuation(request, responseStream, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Events.Actor.Set(await AuthorizeAsync(context));
        return await continuation(requestStream, context);
    }
}
