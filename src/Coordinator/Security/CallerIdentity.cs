using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
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
}

/// <summary>
/// Deny-by-default authorization per service: Bootstrap and health are open, AgentLink needs a node certificate,
/// Fleet and Events need the admin certificate. The TLS layer already refused certificates not issued by the CA.
/// </summary>
public sealed class AuthorizationInterceptor : Interceptor
{
    private static string? RequiredRole(string method) => method switch
    {
        _ when method.StartsWith("/nodefleet.v1.Bootstrap/", StringComparison.Ordinal) => "",
        _ when method.StartsWith("/grpc.health.v1.Health/", StringComparison.Ordinal) => "",
        _ when method.StartsWith("/nodefleet.v1.AgentLink/", StringComparison.Ordinal) => Roles.Nodes,
        _ when method.StartsWith("/nodefleet.v1.Fleet/", StringComparison.Ordinal) => Roles.Admins,
        _ when method.StartsWith("/nodefleet.v1.Rollouts/", StringComparison.Ordinal) => Roles.Admins,
        _ when method.StartsWith("/nodefleet.v1.Clusters/", StringComparison.Ordinal) => Roles.Admins,
        _ when method.StartsWith("/nodefleet.v1.Events/", StringComparison.Ordinal) => Roles.Admins,
        _ => null,
    };

    private static void Check(ServerCallContext context)
    {
        var role = RequiredRole(context.Method)
            ?? throw new RpcException(new Status(StatusCode.PermissionDenied, $"{context.Method} is not allowed"));
        if (role.Length == 0) return;
        var caller = CallerIdentity.Require(context);
        if (caller.Role != role)
        {
            var what = role == Roles.Admins ? "the operator API requires the admin certificate" : "this API is for nodes only";
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"{what}; {caller.Role} {caller.Name} may not call {context.Method}"));
        }
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
