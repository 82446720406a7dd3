using NodeFleet.Security;

namespace NodeFleet.Tests.Shared;

public class BootstrapTokenTests
{
    [Theory]
    [InlineData("abcdef.0123456789abcdef")]
    [InlineData("a1b2c3.zzzzzzzzzzzzzzzz")]
    public void Parses_well_formed_tokens(string text)
    {
        var t = BootstrapToken.Parse(text);
        Assert.Equal(text, t.ToString());
        Assert.Equal(text[..6], t.Id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abcdef")]
    [InlineData("ABCDEF.0123456789abcdef")]
    [InlineData("abcde.0123456789abcdef")]
    [InlineData("abcdef.0123456789abcde")]
    [InlineData("abcdef:0123456789abcdef")]
    [InlineData("abcdef.0123456789abcdef\n")]
    public void Refuses_malformed_tokens_naming_the_format(string text)
    {
        var e = Assert.Throws<FormatException>(() => BootstrapToken.Parse(text));
        Assert.Contains("[a-z0-9]{6}.[a-z0-9]{16}", e.Message);
    }

    [Fact]
    public void Generated_tokens_are_well_formed_and_distinct()
    {
        var tokens = Enumerable.Range(0, 50).Select(_ => BootstrapToken.Generate().ToString()).ToList();
        Assert.All(tokens, t => Assert.True(BootstrapToken.TryParse(t, out _)));
        Assert.Equal(tokens.Count, tokens.Distinct().Count());
    }

    [Fact]
    public void Stored_hash_and_discovery_key_do_not_reveal_the_secret_and_depend_on_it()
    {
        var a = BootstrapToken.Parse("abcdef.0123456789abcdef");
        var b = BootstrapToken.Parse("abcdef.0123456789abcdeg");
        Assert.DoesNotContain(a.Secret, a.SecretHash());
        Assert.NotEqual(a.SecretHash(), b.SecretHash());
        Assert.NotEqual(a.DiscoveryKey(), b.DiscoveryKey());
        Assert.Equal(a.DiscoveryKey(), BootstrapToken.Parse(a.ToString()).DiscoveryKey());
    }
}
