using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Shared;

public sealed class NodeLimitsTests
{
    [Fact]
    public void An_output_tail_keeps_its_end_under_the_limit_with_a_marker_first()
    {
        var text = "start\n" + new string('x', 100_000) + "\nthe error";
        var cut = NodeLimits.KeepEnd(text, NodeLimits.MaxOutputTail);
        Assert.True(cut.Length <= NodeLimits.MaxOutputTail, $"{cut.Length}");
        Assert.StartsWith("[… ", cut);
        Assert.Contains($"the text was {text.Length} characters", cut);
        Assert.EndsWith("\nthe error", cut);
    }

    [Fact]
    public void A_message_keeps_its_start_with_a_marker_last_and_short_texts_are_untouched()
    {
        var text = "step failed: " + new string('y', 50_000);
        var cut = NodeLimits.KeepStart(text, NodeLimits.MaxMessage);
        Assert.True(cut.Length <= NodeLimits.MaxMessage);
        Assert.StartsWith("step failed: yyy", cut);
        Assert.EndsWith("characters …]", cut);
        Assert.Same("short", NodeLimits.KeepStart("short", NodeLimits.MaxMessage));
    }

    [Fact]
    public void Clamp_cuts_every_text_of_a_report_and_says_whether_it_did()
    {
        var ok = new StepReport { RunId = "r", Message = "m", OutputTail = "o" };
        Assert.False(NodeLimits.Clamp(ok));
        var big = new StepReport { RunId = new string('r', 1000), Phase = new string('p', 1000), OutputTail = new string('o', 1 << 20) };
        Assert.True(NodeLimits.Clamp(big));
        Assert.Equal(NodeLimits.MaxIdentifier, big.RunId.Length);
        Assert.Equal(NodeLimits.MaxIdentifier, big.Phase.Length);
        Assert.True(big.OutputTail.Length <= NodeLimits.MaxOutputTail);
    }

    [Fact]
    public void Every_fact_is_kept_by_the_clamp_and_bounded_by_the_check()
    {
        var facts = new NodeFacts { Hostname = "h", KubeletHostnameOverride = "worker-7", AgentVersion = "0.1.0" };
        Assert.Equal(facts, NodeLimits.ClampFacts(facts));
        var error = NodeLimits.FactsError(new NodeFacts { KubeletHostnameOverride = new string('w', 5000) });
        Assert.StartsWith("fact kubeletHostnameOverride is 5000 characters", error);
    }

    [Fact]
    public void Facts_and_join_labels_beyond_their_limits_are_named_and_quoted_briefly()
    {
        var error = NodeLimits.FactsError(new NodeFacts { Hostname = "h", Os = new string('o', 3_900_000) });
        Assert.NotNull(error);
        Assert.StartsWith("fact os is 3900000 characters", error);
        Assert.True(error!.Length < 300);
        Assert.Null(NodeLimits.FactsError(new NodeFacts { Hostname = "h", Kernel = "6.1.0-18-amd64" }));
        Assert.Equal(NodeLimits.MaxFact, NodeLimits.ClampFacts(new NodeFacts { Os = new string('o', 1000) }).Os.Length);

        var many = Enumerable.Range(0, 65).Select(i => KeyValuePair.Create($"k{i}", "v")).ToList();
        Assert.Contains("65 labels", NodeLimits.JoinLabelsError(many));
        var longValue = new[] { KeyValuePair.Create("k", new string('v', 1_000_000)) };
        Assert.Contains("longer than 63 characters", NodeLimits.JoinLabelsError(longValue));
        Assert.True(NodeLimits.JoinLabelsError(longValue)!.Length < 300);
    }
}
