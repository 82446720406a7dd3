using System.Net;
using System.Net.Sockets;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>
/// Tries each address the coordinator will listen on before the host starts, so that a port in use or an address
/// not on this machine is one line naming the address (and the setting), not Kestrel's start-up failure.
/// </summary>
public static class ListenCheck
{
    /// <param name="setting">Named after the address when it is not the main --listen one, e.g. "for /metrics (--metrics-listen)".</param>
    public static void EnsureAvailable(IPEndPoint endpoint, string? setting = null)
    {
        try
        {
            // As Kestrel binds (SocketTransportOptions.CreateDefaultBoundListenSocket): [::] also takes IPv4.
            using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endpoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(endpoint);
        }
        catch (SocketException e)
        {
            throw new StartupException($"cannot listen on {endpoint}{(setting is null ? "" : $" {setting}")}: {Reason(e, endpoint)}");
        }
    }

    internal static string Reason(SocketException e, IPEndPoint endpoint) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => $"cannot assign requested address ({endpoint.Address} is not an address of this machine)",
        SocketError.AccessDenied when endpoint.Port < 1024 => "permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE)",
        SocketError.AccessDenied => "permission denied",
        SocketError.AddressFamilyNotSupported => $"{(endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")} is not available on this machine",
        _ => e.Message,
    };
}
