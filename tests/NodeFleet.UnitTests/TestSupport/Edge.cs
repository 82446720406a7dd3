using Grpc.Core;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Services;

namespace NodeFleet.Tests.TestSupport;

/// <summary>
/// Asserts that a domain call is refused, and returns the refusal as the gRPC edge answers it (status code and the
/// message the CLI shows), through the coordinator's own mapping.
/// </summary>
public static class Edge
{
    public static async Task<RpcException> ThrowsAsync(Func<Task> call) =>
        DomainErrorInterceptor.ToRpc(await Assert.ThrowsAnyAsync<DomainException>(call));

    public static RpcException Throws(Func<object?> call) =>
        DomainErrorInterceptor.ToRpc(Assert.ThrowsAny<DomainException>(call));

    public static RpcException Throws(Action call) =>
        DomainErrorInterceptor.ToRpc(Assert.ThrowsAny<DomainException>(call));
}
