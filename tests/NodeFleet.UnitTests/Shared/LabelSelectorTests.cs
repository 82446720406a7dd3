using NodeFleet.Labels;

namespace NodeFleet.Tests.Shared;

public class LabelSelectorTests
{
    private static Dictionary<string, string> L(string assignments) => LabelSyntax.ParseAssignments(assignments);

    public static TheoryData<string, string, bool> Cases => new()
    {
        { "role=worker", "role=worker", true },
        { "role=worker", "role=master", false },
        { "role=worker", "", false },
        { "role==worker", "role=worker", true },
        { "role==worker", "role=master", false },
        { "zone!=b", "zone=a", true },
        { "zone!=b", "zone=b", false },
        { "zone!=b", "", true },
        { "gpu", "gpu=", true },
        { "gpu", "gpu=nvidia", true },
        { "gpu", "role=worker", false },
        { "!gpu", "role=worker", true },
        { "!gpu", "gpu=nvidia", false },
        { "env in (prod,staging)", "env=prod", true },
        { "env in (prod,staging)", "env=staging", true },
        { "env in (prod,staging)", "env=dev", false },
        { "env in (prod,staging)", "", false },
        { "env in ( prod , staging )", "env=staging", true },
        { "env notin (dev)", "env=prod", true },
        { "env notin (dev)", "env=dev", false },
        { "env notin (dev)", "", true },
        { "role=worker,env in (prod,staging),!gpu", "role=worker,env=prod", true },
        { "role=worker,env in (prod,staging),!gpu", "role=worker,env=prod,gpu=x", false },
        { "role=worker,env in (prod,staging),!gpu", "role=master,env=prod", false },
        { "role=worker, zone!=b , gpu", "role=worker,zone=a,gpu=x", true },
        { "role=worker, zone!=b , gpu", "role=worker,zone=b,gpu=x", false },
        { "example.com/tier=gold", "example.com/tier=gold", true },
        { "role=", "role=", true },
        { "role=", "role=x", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches(string selector, string labels, bool expected)
    {
        Assert.Equal(expected, LabelSelector.Parse(selector).Matches(L(labels)));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_selector_matches_everything(string? text)
    {
        var s = LabelSelector.Parse(text);
        Assert.True(s.IsEmpty);
        Assert.True(s.Matches(L("")));
        Assert.True(s.Matches(L("role=worker")));
    }

    [Fact]
    public void Non_empty_selector_is_not_empty() => Assert.False(LabelSelector.Parse("role").IsEmpty);

    [Theory]
    [InlineData("role=worker,,zone=a", 13, "empty requirement")]
    [InlineData("role=worker,", 13, "empty requirement")]
    [InlineData("a=b,c d", 5, "expected =, ==, !=, in or notin")]
    [InlineData("env in prod", 1, "parenthesised list")]
    [InlineData("env in ()", 1, "empty")]
    [InlineData("env in (a,b", 1, "parenthesised list")]
    [InlineData("role=worker,-bad=x", 13, "name must be")]
    [InlineData("role=wor ker", 1, "value")]
    [InlineData("x=1,env in (ok,-no)", 5, "'-no'")]
    [InlineData("!", 1, "name must be")]
    [InlineData("!=x", 1, "name must be")]
    public void Parse_errors_name_the_column_and_the_part(string text, int column, string why)
    {
        var e = Assert.Throws<FormatException>(() => LabelSelector.Parse(text));
        Assert.Contains($"column {column}", e.Message);
        Assert.Contains(why, e.Message);
        Assert.Contains($"'{text}'", e.Message);
    }
}
