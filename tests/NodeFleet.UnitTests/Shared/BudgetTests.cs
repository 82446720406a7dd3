using NodeFleet.Budgets;

namespace NodeFleet.Tests.Shared;

/// <summary>The one budget grammar the CLI and the coordinator share (max unavailable, max failures).</summary>
public sealed class BudgetTests
{
    [Theory]
    [InlineData("10%", 20, 2)]
    [InlineData("10%", 5, 1)]
    [InlineData("1%", 3, 1)]
    [InlineData("3", 100, 3)]
    [InlineData(" 2 ", 100, 2)]
    [InlineData("100%", 7, 7)]
    public void Numbers_and_percentages_resolve_against_the_selected_nodes(string text, int total, int expected) =>
        Assert.Equal(expected, Budget.Parse(text, "max-unavailable").Resolve(total));

    [Theory]
    [InlineData("ten")]
    [InlineData("101%")]
    [InlineData("-1")]
    [InlineData("5%%")]
    [InlineData("10 %")]
    [InlineData("")]
    public void Text_that_is_no_budget_is_refused_naming_the_setting(string text)
    {
        var e = Assert.Throws<FormatException>(() => Budget.Parse(text, "--max-failures"));
        Assert.StartsWith($"--max-failures '{text}' must be a whole number more than 0", e.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0%")]
    [InlineData("00")]
    public void Zero_is_refused_because_the_rollout_could_never_go_on(string text)
    {
        var e = Assert.Throws<FormatException>(() => Budget.Parse(text, "max-unavailable"));
        Assert.Equal($"max-unavailable '{text}' must be more than 0: with 0 the rollout could never go on (use 1 or more, or a percentage from 1% to 100%)", e.Message);
    }

    [Theory]
    [InlineData(" 10% ", "10%")]
    [InlineData("2", "2")]
    public void A_budget_is_shown_as_it_was_given_trimmed(string text, string shown) =>
        Assert.Equal(shown, Budget.Parse(text, "x").ToString());
}
