using Grpc.Core;

namespace NodeFleet.Agent.Host;

/// <summary>Which pull failures are worth retrying: the registry or runtime briefly unavailable, never "not found" or "denied".</summary>
public static class PullErrors
{
    private static readonly string[] TransientText =
    [
        "connection refused", "connection reset", "i/o timeout", "no route to host", "EOF",
        "503 Service Unavailable", "502 Bad Gateway", "500 Internal Server Error", "504 Gateway Timeout", "TLS handshake timeout",
    ];

    private static readonly string[] PermanentText = ["not found", "unauthorized", "denied", "manifest unknown", "401", "403", "404"];

    public static bool IsTransient(Exception e) => e switch
    {
        ImagePullException p when p.InnerException is not null => IsTransient(p.InnerException),
        ImagePullException p => p.Transient,
        RpcException r => r.StatusCode switch
        {
            StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Aborted => true,
            StatusCode.NotFound or StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.InvalidArgument => false,
            // containerd reports registry trouble as Unknown: decide by the message.
            _ => TextIsTransient(r.Status.Detail),
        },
        HttpRequestException or IOException => true,
        _ => false,
    };

    public static bool TextIsTransient(string message) =>
        !PermanentText.Any(t => message.Contains(t, StringComparison.OrdinalIgnoreCase))
        && TransientText.Any(t => message.Contains(t, StringComparison.OrdinalIgnoreCase));
}
