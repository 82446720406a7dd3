using Grpc.Core;
using Grpc.Core.Interceptors;
using NodeFleet.Coordinator.Errors;

namespace NodeFleet.Coordinator.Services;

/// <summary>
/// The one place where domain errors become gRPC status codes: every service method runs inside it, so domain code
/// throws <see cref="DomainException"/>s and never knows about the wire.
/// </summary>
public sealed class DomainErrorInterceptor : Interceptor
{
    /// <summary>The status a domain error is answered with; its message is the status detail, unchanged.</summary>
    public static RpcException ToRpc(DomainException e) => new(new Status(CodeOf(e), e.Message));

    private static StatusCode CodeOf(DomainException e) => e switch
    {
        InvalidArgumentException => StatusCode.InvalidArgument,
        NotFoundException => StatusCode.NotFound,
        AlreadyExistsException => StatusCode.AlreadyExists,
        // A lost compare-and-swap: the client may retry the whole call (gRPC's documented use of ABORTED).
        ConflictException => StatusCode.Aborted,
        FailedPreconditionException => StatusCode.FailedPrecondition,
        PermissionDeniedException => StatusCode.PermissionDenied,
        DeadlineExceededException => StatusCode.DeadlineExceeded,
        TooManyAttemptsException => StatusCode.ResourceExhausted,
        _ => StatusCode.Unknown,
    };

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(request, context); }
        catch (DomainException e) { throw ToRpc(e); }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(requestStream, context); }
        catch (DomainException e) { throw ToRpc(e); }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(request, responseStream, context); }
        catch (DomainException e) { throw ToRpc(e); }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(requestStream, responseStream, context); }
        catch (DomainException e) { throw ToRpc(e); }
    }
}
