using System.Text;
using NodeFleet.Security;

namespace NodeFleet.Tests.Shared;

public class JwsTests
{
    private static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private const string Payload = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    private static string B64Url(string s) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(s)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [Fact]
    public void Signed_payload_verifies_with_the_same_key_id_and_key()
    {
        var jws = Jws.SignHs256(Payload, "abcdef", Key);
        Assert.Equal(3, jws.Split('.').Length);
        Assert.True(Jws.VerifyHs256(jws, Payload, "abcdef", Key));
    }

    [Fact]
    public void Tampered_signature_is_refused()
    {
        var jws = Jws.SignHs256(Payload, "abcdef", Key);
        var parts = jws.Split('.');
        var sig = parts[2].ToCharArray();
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
        Assert.False(Jws.VerifyHs256($"{parts[0]}.{parts[1]}.{new string(sig)}", Payload, "abcdef", Key));
    }

    [Fact]
    public void Payload_other_than_the_expected_one_is_refused()
    {
        var jws = Jws.SignHs256(Payload, "abcdef", Key);
        Assert.False(Jws.VerifyHs256(jws, Payload + "x", "abcdef", Key));
    }

    [Fact]
    public void Swapped_payload_with_the_original_signature_is_refused()
    {
        var parts = Jws.SignHs256(Payload, "abcdef", Key).Split('.');
        var forged = $"{parts[0]}.{B64Url("evil")}.{parts[2]}";
        Assert.False(Jws.VerifyHs256(forged, "evil", "abcdef", Key));
    }

    [Fact]
    public void Wrong_key_id_is_refused()
    {
        var jws = Jws.SignHs256(Payload, "abcdef", Key);
        Assert.False(Jws.VerifyHs256(jws, Payload, "ghijkl", Key));
    }

    [Fact]
    public void Wrong_key_is_refused()
    {
        var jws = Jws.SignHs256(Payload, "abcdef", Key);
        var other = (byte[])Key.Clone();
        other[^1] ^= 1;
        Assert.False(Jws.VerifyHs256(jws, Payload, "abcdef", other));
    }

    [Fact]
    public void Algorithm_other_than_HS256_is_refused_even_with_a_valid_mac()
    {
        var header = B64Url("{\"alg\":\"none\",\"kid\":\"abcdef\"}");
        var input = $"{header}.{B64Url(Payload)}";
        var mac = System.Security.Cryptography.HMACSHA256.HashData(Key, Encoding.ASCII.GetBytes(input));
        var sig = Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.False(Jws.VerifyHs256($"{input}.{sig}", Payload, "abcdef", Key));
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("a.b.c")]
    [InlineData("!!!.???.***")]
    [InlineData("e30.e30.e30")] // "{}" everywhere: no alg
    public void Garbage_is_refused_without_throwing(string jws)
    {
        Assert.False(Jws.VerifyHs256(jws, Payload, "abcdef", Key));
    }

    // A coordinator (or a man in the middle: discovery runs before the CA is trusted) controls the header.
    // Any header must yield false, never an exception the join does not expect.
    [Theory]
    [InlineData("[]")]
    [InlineData("\"HS256\"")]
    [InlineData("42")]
    [InlineData("{\"alg\":\"HS256\",\"kid\":42}")]
    [InlineData("{\"alg\":1,\"kid\":\"abcdef\"}")]
    [InlineData("not json")]
    public void Header_of_the_wrong_shape_is_refused_without_throwing(string header)
    {
        var jws = $"{B64Url(header)}.{B64Url(Payload)}.AAAA";
        Assert.False(Jws.VerifyHs256(jws, Payload, "abcdef", Key));
    }
}
