using NodeFleet.Security;

namespace NodeFleet.Tests.Shared;

public class SubjectNamesTests
{
    [Theory]
    [InlineData("coordinator.example.com")]
    [InlineData("localhost")]
    [InlineData("Coord-1.Example.COM")]
    [InlineData("*.example.com")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("10.0.0.5")]
    [InlineData("::1")]
    [InlineData("2001:db8::7443")]
    [InlineData("3com.example")]
    public void Ip_addresses_and_rfc1123_names_are_accepted(string name) => Assert.Null(SubjectNames.Problem(name));

    [Theory]
    [InlineData("bad name!", "' ' is not allowed in a DNS name")]
    [InlineData("under_score.example", "'_' is not allowed in a DNS name")]
    [InlineData("bücher.example", "'ü' is not allowed in a DNS name")]
    [InlineData("", "it is empty")]
    [InlineData("a..b", "no empty labels")]
    [InlineData(".example.com", "no empty labels")]
    [InlineData("example.com.", "no empty labels")]
    [InlineData("-a.example", "DNS label '-a' starts or ends with '-'")]
    [InlineData("a-.example", "DNS label 'a-' starts or ends with '-'")]
    [InlineData("a.*.example.com", "a wildcard may only be the whole first label")]
    [InlineData("w*.example.com", "a wildcard may only be the whole first label")]
    [InlineData("*.com", "a wildcard needs at least two labels after it")]
    [InlineData("1.2.3", "not a valid IPv4 address")]
    [InlineData("10", "not a valid IPv4 address")]
    [InlineData("256.1.1.1", "not a valid IPv4 address")]
    [InlineData("010.0.0.1", "not a valid IPv4 address")]
    [InlineData("fe80::1%eth0", "not a valid IPv6 address")]
    [InlineData("[::1]", "not a valid IPv6 address")]
    [InlineData("host.123", "does not end in a numeric label")]
    public void Anything_else_is_refused_saying_why(string name, string why) =>
        Assert.Contains(why, SubjectNames.Problem(name));

    [Fact]
    public void Labels_and_names_have_rfc_1123_lengths()
    {
        Assert.Null(SubjectNames.Problem(new string('a', 63) + ".example"));
        Assert.Contains("longer than 63", SubjectNames.Problem(new string('a', 64) + ".example"));
        var long253 = string.Join('.', Enumerable.Repeat(new string('a', 49), 5)) + ".abc"; // 5*50 + 3 = 253
        Assert.Equal(253, long253.Length);
        Assert.Null(SubjectNames.Problem(long253));
        Assert.Contains("at most 253", SubjectNames.Problem("a" + long253));
    }

    [Theory]
    [InlineData("10.1.2.3", true)]
    [InlineData("::1", true)]
    [InlineData("10", false)]
    [InlineData("1.2.3", false)]
    [InlineData("0x7f.0.0.1", false)]
    [InlineData("010.0.0.1", false)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("[::1]", false)]
    public void Only_four_part_ipv4_or_plain_ipv6_is_an_address(string name, bool ip) =>
        Assert.Equal(ip, SubjectNames.TryParseIp(name, out _));
}
