using NodeFleet.Labels;

namespace NodeFleet.Tests.Shared;

public class LabelSyntaxTests
{
    [Theory]
    [InlineData("role")]
    [InlineData("Role_1.x-y")]
    [InlineData("a")]
    [InlineData("example.com/role")]
    [InlineData("node.kubernetes.io/instance-type")]
    [InlineData("a-b.c/d")]
    public void Valid_keys(string key) => Assert.Null(LabelSyntax.KeyError(key));

    [Fact]
    public void Key_name_may_have_63_characters_but_not_64()
    {
        Assert.Null(LabelSyntax.KeyError(new string('a', 63)));
        Assert.Null(LabelSyntax.KeyError("example.com/" + new string('a', 63)));
        Assert.Contains("1-63 characters", LabelSyntax.KeyError(new string('a', 64)));
        Assert.Contains("1-63 characters", LabelSyntax.KeyError("example.com/" + new string('a', 64)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-role")]
    [InlineData("role-")]
    [InlineData("ro le")]
    [InlineData("röle")]
    [InlineData("example.com/")]
    [InlineData("a/b/c")]
    public void Invalid_key_names(string key)
    {
        var e = LabelSyntax.KeyError(key);
        Assert.NotNull(e);
        Assert.Contains($"'{key}'", e);
        Assert.Contains("name must be", e);
    }

    [Theory]
    [InlineData("/role")]
    [InlineData("Example.com/role")]
    [InlineData("exa_mple.com/role")]
    [InlineData("-example.com/role")]
    [InlineData("example..com/role")]
    public void Invalid_key_prefixes(string key)
    {
        var e = LabelSyntax.KeyError(key);
        Assert.NotNull(e);
        Assert.Contains("prefix must be a DNS subdomain", e);
    }

    [Fact]
    public void Key_prefix_of_more_than_253_characters_is_refused()
    {
        var prefix = string.Join('.', Enumerable.Repeat(new string('a', 50), 6)); // 305 characters
        Assert.Contains("prefix", LabelSyntax.KeyError(prefix + "/role"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("worker")]
    [InlineData("v1.2_3-x")]
    [InlineData("A")]
    public void Valid_values(string value) => Assert.Null(LabelSyntax.ValueError("k", value));

    [Theory]
    [InlineData("-x")]
    [InlineData("x.")]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("a=b")]
    public void Invalid_values_name_the_key_and_the_value(string value)
    {
        var e = LabelSyntax.ValueError("role", value);
        Assert.NotNull(e);
        Assert.Contains("'role'", e);
        Assert.Contains($"'{value}'", e);
    }

    [Fact]
    public void Value_may_have_63_characters_but_not_64()
    {
        Assert.Null(LabelSyntax.ValueError("k", new string('v', 63)));
        Assert.Contains("at most 63", LabelSyntax.ValueError("k", new string('v', 64)));
    }

    [Fact]
    public void ParseAssignments_reads_comma_separated_pairs()
    {
        var labels = LabelSyntax.ParseAssignments(" role=worker, zone=eu-1 ,example.com/gpu=,");
        Assert.Equal(new Dictionary<string, string> { ["role"] = "worker", ["zone"] = "eu-1", ["example.com/gpu"] = "" }, labels);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void ParseAssignments_of_nothing_is_empty(string? text) => Assert.Empty(LabelSyntax.ParseAssignments(text));

    [Theory]
    [InlineData("role=worker,gpu", "'gpu'", "expected key=value")]
    [InlineData("=worker", "'=worker'", "expected key=value")]
    [InlineData("role=worker,-bad=x", "'-bad'", "name must be")]
    [InlineData("role=wor ker", "'wor ker'", "value")]
    [InlineData("zone=a=b", "'a=b'", "value")]
    public void ParseAssignments_errors_name_the_bad_pair(string text, string named, string why)
    {
        var e = Assert.Throws<FormatException>(() => LabelSyntax.ParseAssignments(text));
        Assert.Contains(named, e.Message);
        Assert.Contains(why, e.Message);
    }

    [Theory]
    [InlineData("node-1")]
    [InlineData("a")]
    [InlineData("worker-1.eu.example.com")]
    [InlineData("10.0.0.1")]
    public void Valid_node_names(string name) => Assert.Null(LabelSyntax.NodeNameError(name));

    [Theory]
    [InlineData("")]
    [InlineData("Node-1")]
    [InlineData("node_1")]
    [InlineData("-node")]
    [InlineData("node-")]
    [InlineData("node..1")]
    [InlineData("node 1")]
    public void Invalid_node_names_are_named_in_the_error(string name)
    {
        var e = LabelSyntax.NodeNameError(name);
        Assert.NotNull(e);
        Assert.Contains($"'{name}'", e);
        Assert.Contains("DNS-1123", e);
    }

    [Fact]
    public void Node_name_may_have_253_characters_but_not_254()
    {
        var name253 = string.Join('.', Enumerable.Repeat(new string('a', 49), 5)) + ".aaa"; // 5*49+4 dots and letters, then 4 more
        Assert.Equal(253, name253.Length);
        Assert.Null(LabelSyntax.NodeNameError(name253));
        Assert.NotNull(LabelSyntax.NodeNameError(name253 + "a"));
    }

    // .NET's "$" also matches before a final "\n"; names and labels end up in certificates, logs and tables.
    [Fact]
    public void A_trailing_newline_is_not_part_of_a_valid_name_key_or_value()
    {
        Assert.NotNull(LabelSyntax.NodeNameError("node-1\n"));
        Assert.NotNull(LabelSyntax.KeyError("role\n"));
        Assert.NotNull(LabelSyntax.KeyError("example.com\n/role"));
        Assert.NotNull(LabelSyntax.ValueError("role", "worker\n"));
    }
}
