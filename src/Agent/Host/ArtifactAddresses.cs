using System.Net;
using System.Net.Sockets;

namespace NodeFleet.Agent.Host;

/// <summary>
/// The addresses the agent downloads artifacts from. A plan's URL is the sender's choice, and the agent returns what
/// it fetched (its digest, its size, its error text): a URL on this node's loopback, its link-local network or a
/// cloud's metadata service would let whoever sends plans probe what only the node can reach. So unless the node's
/// config allows it (<c>allowLocalArtifactAddresses: true</c> in /etc/nodefleet/agent.yaml), those addresses are
/// refused — checked on the address each connection is made to, after name resolution and for every redirect, so
/// neither a DNS name nor a redirect gets around it. Private network ranges (a mirror at 10.0.0.5) stay allowed.
/// </summary>
public static class ArtifactAddresses
{
    /// <summary>The agent config key that allows local addresses.</summary>
    public const string Setting = "allowLocalArtifactAddresses";

    // AWS's IPv6 instance metadata (fd00:ec2::254) and Alibaba Cloud's (100.100.100.200) are outside the ranges below.
    private static readonly IPAddress[] Metadata = [IPAddress.Parse("fd00:ec2::254"), IPAddress.Parse("100.100.100.200")];

    /// <summary>Null when an artifact may be fetched from <paramref name="address"/>, else what it is ("a loopback address").</summary>
    public static string? Refusal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (Metadata.Contains(address) || address.Equals(IPAddress.Parse("169.254.169.254"))) return "a cloud metadata address";
        if (IPAddress.IsLoopback(address)) return "a loopback address (this node)";
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) return "the unspecified address (this node)";
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            if (b[0] == 0) return "in 0.0.0.0/8 (this node)";
            if (b[0] == 169 && b[1] == 254) return "a link-local address (169.254.0.0/16)";
        }
        else if (address.IsIPv6LinkLocal) return "a link-local address (fe80::/10)";
        return null;
    }

    /// <summary>
    /// A handler whose every connection is made to an address checked by <see cref="Refusal"/> unless
    /// <paramref name="allowLocal"/> says yes (read at each connection, so an edit of the config holds from the next download).
    /// </summary>
    public static SocketsHttpHandler Handler(Func<bool> allowLocal) => new()
    {
        ConnectCallback = async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host;
            var port = context.DnsEndPoint.Port;
            var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(host, ct);
            var allowed = addresses;
            if (!allowLocal())
            {
                allowed = addresses.Where(a => Refusal(a) is null).ToArray();
                if (allowed.Length == 0)
                {
                    var what = addresses.Length == 0 ? "it has no address"
                        : literal is not null ? $"{literal} is {Refusal(literal)}"
                        : $"it resolves to {addresses[0]}, {Refusal(addresses[0])}";
                    throw new ArtifactAddressException(
                        $"artifact host {host} is refused: {what}; this agent downloads artifacts from loopback, link-local and " +
                        $"cloud metadata addresses only with {Setting}: true in its config (/etc/nodefleet/agent.yaml)");
                }
            }
            // Connect to exactly the addresses checked: a second resolution could answer differently.
            Exception? last = null;
            foreach (var address in allowed)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    last = e;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
            throw last ?? new SocketException((int)SocketError.HostNotFound);
        },
    };
}

/// <summary>A download refused because of the address it would connect to.</summary>
public sealed class ArtifactAddressException(string message) : IOException(message);
