using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Tests.Coordinator;

public class ListenCheckTests
{
    /// <summary>A documentation address (RFC 5737) that this machine does not have.</summary>
    internal static IPAddress NotLocal()
    {
        var local = NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address).ToHashSet();
        return new[] { "203.0.113.77", "198.51.100.77", "192.0.2.77" }.Select(IPAddress.Parse).First(a => !local.Contains(a));
    }

    [Fact]
    public void A_port_in_use_is_named_with_its_address()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var ep = (IPEndPoint)taken.LocalEndpoint;
        var e = Assert.Throws<StartupException>(() => ListenCheck.EnsureAvailable(ep));
        Assert.Equal($"cannot listen on 127.0.0.1:{ep.Port}: address already in use", e.Message);
        e = Assert.Throws<StartupException>(() => ListenCheck.EnsureAvailable(new IPEndPoint(IPAddress.Any, ep.Port), "for /metrics (--metrics-listen)"));
        Assert.Equal($"cannot listen on 0.0.0.0:{ep.Port} for /metrics (--metrics-listen): address already in use", e.Message);
    }

    [Fact]
    public void An_address_not_on_this_machine_is_named()
    {
        var ip = NotLocal();
        var e = Assert.Throws<StartupException>(() => ListenCheck.EnsureAvailable(new IPEndPoint(ip, 7443)));
        Assert.Equal($"cannot listen on {ip}:7443: cannot assign requested address ({ip} is not an address of this machine)", e.Message);
    }

    [Fact]
    public void A_free_port_passes_and_is_left_free()
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; }
        ListenCheck.EnsureAvailable(new IPEndPoint(IPAddress.Loopback, port));
        using var after = new TcpListener(IPAddress.Loopback, port);
        after.Start();
    }

    [Fact]
    public void A_low_port_denied_says_what_it_needs() =>
        Assert.Equal("permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE)",
            ListenCheck.Reason(new SocketException((int)SocketError.AccessDenied), new IPEndPoint(IPAddress.Any, 443)));

    [Fact]
    public void A_machine_without_ipv6_says_so() =>
        Assert.Equal("IPv6 is not available on this machine",
            ListenCheck.Reason(new SocketException((int)SocketError.AddressFamilyNotSupported), new IPEndPoint(IPAddress.IPv6Any, 7443)));
}
