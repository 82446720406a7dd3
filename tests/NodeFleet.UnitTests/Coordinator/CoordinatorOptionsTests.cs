using System.Net;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Tests.Coordinator;

public class CoordinatorOptionsTests
{
    [Theory]
    [InlineData("0.0.0.0:7443", "0.0.0.0", 7443)]
    [InlineData("127.0.0.1:1", "127.0.0.1", 1)]
    [InlineData("[::]:7443", "::", 7443)]
    [InlineData("[::1]:65535", "::1", 65535)]
    [InlineData("localhost:7443", "127.0.0.1", 7443)]
    public void ParseListen_accepts_ip_and_port(string listen, string ip, int port)
    {
        var ep = CoordinatorOptions.ParseListen(listen);
        Assert.Equal(IPAddress.Parse(ip), ep.Address);
        Assert.Equal(port, ep.Port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("7443")]
    [InlineData(":7443")]
    [InlineData("0.0.0.0")]
    [InlineData("0.0.0.0:0")]
    [InlineData("0.0.0.0:65536")]
    [InlineData("example.com:7443")]
    [InlineData("localhost:0")]
    [InlineData("localhost:x")]
    [InlineData("localhost")]
    public void ParseListen_refuses_other_forms_naming_the_setting(string listen)
    {
        var e = Assert.Throws<StartupException>(() => CoordinatorOptions.ParseListen(listen));
        Assert.Contains("listen address", e.Message);
        Assert.Contains($"'{listen}'", e.Message);
        Assert.Contains("IP:PORT", e.Message);
    }

    [Fact]
    public void Defaults_are_valid()
    {
        var o = new CoordinatorOptions();
        o.Validate();
        Assert.Equal(TimeSpan.FromSeconds(10), o.HeartbeatPeriod);
        Assert.Equal(7443, CoordinatorOptions.ParseListen(o.Listen).Port);
    }

    [Fact]
    public void Validate_names_a_bad_listen_address() =>
        Assert.Contains("listen address", Assert.Throws<StartupException>(() => new CoordinatorOptions { Listen = "nowhere" }.Validate()).Message);

    [Theory]
    [InlineData("30s", "must be between 1m and 3650d")]
    [InlineData("3651d", "must be between 1m and 3650d")]
    [InlineData("a month", "is not a duration")]
    public void Validate_names_a_bad_certificate_lifetime(string lifetime, string problem)
    {
        var node = Assert.Throws<StartupException>(() => new CoordinatorOptions { NodeCertificateLifetime = lifetime }.Validate());
        Assert.StartsWith("nodeCertificateLifetime", node.Message);
        Assert.Contains(problem, node.Message);
        var serving = Assert.Throws<StartupException>(() => new CoordinatorOptions { ServingCertificateLifetime = lifetime }.Validate());
        Assert.StartsWith("servingCertificateLifetime", serving.Message);
    }

    [Fact]
    public void Certificate_lifetimes_default_to_30_days_for_nodes_and_a_year_for_serving()
    {
        var o = new CoordinatorOptions();
        Assert.Equal((TimeSpan.FromDays(30), TimeSpan.FromDays(365)), (o.NodeCertificateValidity, o.ServingCertificateValidity));
    }

    [Theory]
    [InlineData("ten")]
    [InlineData("10")]
    [InlineData("")]
    public void Validate_names_a_bad_heartbeat_interval(string interval)
    {
        var e = Assert.Throws<StartupException>(() => new CoordinatorOptions { HeartbeatInterval = interval }.Validate());
        Assert.StartsWith("heartbeatInterval: ", e.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("99ms")]
    public void Validate_refuses_a_heartbeat_interval_under_100ms(string interval)
    {
        var e = Assert.Throws<StartupException>(() => new CoordinatorOptions { HeartbeatInterval = interval }.Validate());
        Assert.Contains("heartbeatInterval must be at least 100ms", e.Message);
    }

    // A duration too long for a TimeSpan escaped as "Unhandled exception: System.OverflowException".
    [Theory]
    [InlineData("99999999999d")]
    [InlineData("99999999d")]
    public void Validate_refuses_a_heartbeat_interval_too_long_to_be_a_duration(string interval)
    {
        var e = Assert.Throws<StartupException>(() => new CoordinatorOptions { HeartbeatInterval = interval }.Validate());
        Assert.StartsWith($"heartbeatInterval: '{interval}' is too long", e.Message);
    }

    [Theory]
    [InlineData("24h1s")]
    [InlineData("60d")]
    public void Validate_refuses_a_heartbeat_interval_over_a_day(string interval)
    {
        var e = Assert.Throws<StartupException>(() => new CoordinatorOptions { HeartbeatInterval = interval }.Validate());
        Assert.Equal($"heartbeatInterval {interval} must be at most 24h", e.Message);
    }

    [Fact]
    public void Validate_accepts_100ms_and_json_logs() =>
        new CoordinatorOptions { HeartbeatInterval = "100ms", LogFormat = "json" }.Validate();

    [Fact]
    public void Validate_names_a_bad_log_format()
    {
        var e = Assert.Throws<StartupException>(() => new CoordinatorOptions { LogFormat = "xml" }.Validate());
        Assert.Contains("logFormat 'xml'", e.Message);
    }
}
