using System.Security.Authentication;
using Grpc.Core;

namespace NodeFleet.Net;

/// <summary>
/// Why a gRPC call failed on the way. Grpc.Net.Client's detail for a failed connection is generic ("Error connecting
/// to subchannel."); the exceptions behind it say why (connection refused, certificate rejected, name not resolved).
/// </summary>
public static class RpcCauses
{
    /// <summary>The exceptions behind a failed call, outermost first.</summary>
    public static IEnumerable<Exception> Of(RpcException e)
    {
        for (var x = e.Status.DebugException; x is not null; x = x.InnerException) yield return x;
    }

    /// <summary>This side refused the server's certificate: the pinned CA did not issue it, or it is not for the address.</summary>
    public static bool ServerCertificateRejected(Exception x) =>
        x is AuthenticationException a && a.Message.Contains("RemoteCertificateValidationCallback", StringComparison.Ordinal);
}
