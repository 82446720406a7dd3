using NodeFleet.Net;

namespace NodeFleet.Tests.Shared;

public class GrpcChannelsTests
{
    [Theory]
    [InlineData("host:7443", "host", 7443)]
    [InlineData("10.0.0.1:1", "10.0.0.1", 1)]
    [InlineData("host", "host", 7443)]
    [InlineData("coordinator.example.com", "coordinator.example.com", 7443)]
    [InlineData("10.0.0.1", "10.0.0.1", 7443)]
    [InlineData("[::1]:7443", "[::1]", 7443)]
    [InlineData("[::1]:9000", "[::1]", 9000)]
    [InlineData("[::1]", "[::1]", 7443)]
    [InlineData("::1", "[::1]", 7443)]
    [InlineData("fd00::5", "[fd00::5]", 7443)]
    [InlineData("https://host:8443", "host", 8443)]
    public void ToUri_gives_an_https_uri_with_the_default_port_7443(string address, string host, int port)
    {
        var uri = GrpcChannels.ToUri(address);
        Assert.Equal("https", uri.Scheme);
        Assert.Equal(host, uri.Host);
        Assert.Equal(port, uri.Port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("host:port")]
    [InlineData("host:99999")]
    [InlineData("host:-1")]
    [InlineData("ho st:7443")]
    [InlineData("host:")]
    public void ToUri_refuses_bad_addresses(string address)
    {
        Assert.Throws<FormatException>(() => GrpcChannels.ToUri(address));
    }
}
