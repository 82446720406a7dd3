using System.Security.Cryptography.X509Certificates;
using NodeFleet.Security;

namespace NodeFleet.Tests.Shared;

public class CaHashTests
{
    private static X509Certificate2 NewCa(string name = "nodefleet-ca")
    {
        using var key = Pki.NewKey();
        return Pki.CreateCa(key, name, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
    }

    [Fact]
    public void Of_is_sha256_prefix_and_64_lowercase_hex_digits()
    {
        using var ca = NewCa();
        var hash = CaHash.Of(ca);
        Assert.Matches("^sha256:[0-9a-f]{64}$", hash);
        Assert.Equal(hash, CaHash.Of(ca));
    }

    [Fact]
    public void Of_depends_on_the_key()
    {
        using var a = NewCa();
        using var b = NewCa();
        Assert.NotEqual(CaHash.Of(a), CaHash.Of(b));
    }

    [Fact]
    public void Normalize_accepts_upper_case_and_surrounding_space()
    {
        using var ca = NewCa();
        var hash = CaHash.Of(ca);
        Assert.Equal(hash, CaHash.Normalize("  " + hash.ToUpperInvariant() + "\n"));
        Assert.Equal(hash, CaHash.Normalize(hash));
    }

    [Theory]
    [InlineData("")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")] // no prefix
    [InlineData("sha1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("sha256:0123456789abcdef")] // too short
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0")] // too long
    [InlineData("sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")] // not hex
    [InlineData("sha256:")]
    public void Normalize_refuses_other_forms_naming_the_expected_one(string pin)
    {
        var e = Assert.Throws<FormatException>(() => CaHash.Normalize(pin));
        Assert.Contains("sha256:<64 hex digits>", e.Message);
    }

    [Fact]
    public void Matches_only_its_own_ca()
    {
        using var ca = NewCa();
        using var other = NewCa();
        Assert.True(CaHash.Matches(ca, CaHash.Of(ca).ToUpperInvariant()));
        Assert.False(CaHash.Matches(ca, CaHash.Of(other)));
    }
}
