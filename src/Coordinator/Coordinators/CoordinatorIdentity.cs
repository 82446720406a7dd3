using System.Net;
using System.Security.Cryptography;

namespace NodeFleet.Coordinator.Coordinators;

/// <summary>
/// Who this coordinator process is among those sharing a store: an id stable across its restarts (host and listen
/// address), the address it serves on, and a holder name for leases that is new with every process, so that a
/// restarted coordinator never inherits the tenure (and fencing token) of the process it replaces.
/// </summary>
public sealed class CoordinatorIdentity
{
    public CoordinatorIdentity(IPEndPoint listen, DateTime startedAt)
    {
        var host = listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any)
            ? Environment.MachineName
            : listen.Address.ToString();
        Address = listen.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && host == listen.Address.ToString()
            ? $"[{host}]:{listen.Port}"
            : $"{host}:{listen.Port}";
        Id = $"{Environment.MachineName}/{Address}";
        Holder = $"{Id}#{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        StartedAt = startedAt;
    }

    public string Id { get; }
    public string Address { get; }
    /// <summary>The lease holder name of this process.</summary>
    public string Holder { get; }
    public DateTime StartedAt { get; }
}
