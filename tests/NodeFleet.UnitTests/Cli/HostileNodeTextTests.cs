using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using NodeFleet.Cli;
using NodeFleet.Cli.Commands;
using NodeFleet.Cli.Connection;
using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;
using YamlDotNet.Serialization;
using static NodeFleet.Tests.Cli.CliSamples;

namespace NodeFleet.Tests.Cli;

/// <summary>
/// Strings a hostile node sends (facts, step messages, output tails, event messages) printed the way the commands
/// print them, through the environment's writers: nothing reaches the terminal that it would act on, the text is
/// still there to read, escaped, and JSON and YAML still carry it exactly.
/// </summary>
public class HostileNodeTextTests
{
    /// <summary>PRETTY_NAME that sets the window title, clears the screen, turns the text red and writes the clipboard (OSC 52).</summary>
    private const string PrettyName = "Debian GNU/Linux 12\u001b]0;OWNED\u0007\u001b[2J\u001b[31m\u001b]52;c;cm0gLXJmIH4=\u0007";
    private const string PrettyNameShown = @"Debian GNU/Linux 12\x1b]0;OWNED\x07\x1b[2J\x1b[31m\x1b]52;c;cm0gLXJmIH4=\x07";

    /// <summary>A hostname that would add a line of its own to `node describe`, with an 8-bit CSI and a bidi override.</summary>
    private const string Hostname = "worker-1\n  Kernel:           6.1.0-trusted\u009b8m\u202eeman";
    private const string HostnameShown = @"worker-1\n  Kernel:           6.1.0-trusted\x9b8m\u202eeman";

    private const string Kernel = "6.1.0\u007f\u0008\u0008\u0008";
    private const string EventMessage = "[red]boom[/] [bold \u001b[2K\r\u001b[1Aplan applied";

    private static Node HostileNode()
    {
        var node = Description().Node.Clone();
        node.Facts.Os = PrettyName;
        node.Facts.Hostname = Hostname;
        node.Facts.Kernel = Kernel;
        node.Labels["zone"] = "a\u001b[8m";
        return node;
    }

    private static NodeDescription HostileDescription()
    {
        var run = FailedRun();
        var failed = run.Steps.Single(s => s.State == StepState.Failed);
        failed.Message = "verification failed\u001b]8;;http://evil.example/\u0007click\u001b]8;;\u0007";
        failed.OutputTail = "E0101 11:51:04 invalid value\n\u001b[1A\u001b[2Kall good\rfake line\n\tat main.go:12\n";
        run.Error = "error execution phase x/y: \u009d0;title\u009c failed";
        var d = Description(run);
        d.Node = HostileNode();
        d.Events[0].Message = EventMessage;
        return d;
    }

    private static (CliEnvironment Env, StringWriter Out, StringWriter Err) Terminal()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        return (new CliEnvironment(stdout, stderr, _ => null, "/nonexistent-home", _ => false, TimeProvider.System), stdout, stderr);
    }

    private static void AssertNothingActsOnTheTerminal(string output)
    {
        var bad = output.Select((c, i) => (c, i)).Where(x => TerminalTextTests.ActsOnTerminal(x.c)).ToList();
        Assert.True(bad.Count == 0, $"U+{(bad.Count > 0 ? (int)bad[0].c : 0):X4} at {(bad.Count > 0 ? bad[0].i : 0)} in:\n{output}");
    }

    [Fact]
    public void Nodes_wide_shows_hostile_facts_escaped_one_row_per_node()
    {
        var (env, stdout, _) = Terminal();
        NodeViews.List([HostileNode(), new Node { Name = "worker-2" }], Now, wide: true).WriteTo(env.Out);
        var output = stdout.ToString();

        AssertNothingActsOnTheTerminal(output);
        Assert.DoesNotContain('\t', output);
        var lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("worker-1 ", lines[1]);
        Assert.Contains(PrettyNameShown, lines[1]);
        Assert.Contains(@"6.1.0\x7f\x08\x08\x08", lines[1]);
        Assert.Contains(@"zone=a\x1b[8m", lines[1]);
        // Escaping happens before the columns are measured: the next column starts at the same place on every row.
        Assert.Equal(lines[0].IndexOf("KERNEL", StringComparison.Ordinal), lines[1].IndexOf(@"6.1.0\x7f", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Node_describe_shows_hostile_facts_messages_and_output_tails_escaped()
    {
        var (env, stdout, _) = Terminal();
        await env.Out.WriteAsync(NodeDescribeView.Render(HostileDescription(), Now));
        var output = stdout.ToString();

        AssertNothingActsOnTheTerminal(output);
        Assert.Contains($"  OS:                {PrettyNameShown}\n", output);
        Assert.Contains($"  Hostname:          {HostnameShown}\n", output);
        // The hostname's newline did not make a second Kernel line.
        Assert.Single(output.Split('\n'), l => l.StartsWith("  Kernel:", StringComparison.Ordinal));
        Assert.Contains(@"Failed step kubelet-config/write-dropin: verification failed\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07", output);
        Assert.Contains(@"error: error execution phase x/y: \x9d0;title\x9c failed", output);
        // An output tail keeps its lines; the cursor movements and the carriage return inside them are shown, not done.
        Assert.Contains("""
                    | E0101 11:51:04 invalid value
                    | \x1b[1A\x1b[2Kall good\rfake line
                    | 	at main.go:12

            """, output);
        Assert.EndsWith(@"Warning   PlanFailed   [red]boom[/] [bold \x1b[2K\r\x1b[1Aplan applied" + "\n", output);
    }

    [Fact]
    public async Task Events_and_followed_events_show_hostile_messages_escaped_on_one_line()
    {
        var e = new Event { Time = SecondsAgo(5), Type = "Normal", Reason = "PlanApplied", Node = "w\u202e1", Message = EventMessage + "\nsecond line" };
        var (env, stdout, _) = Terminal();
        EventViews.List([e], Now).WriteTo(env.Out);
        var lines = new EventLines();
        await env.Out.WriteAsync(lines.Header());
        await env.Out.WriteAsync(lines.Line(e, Now));
        var output = stdout.ToString();

        AssertNothingActsOnTheTerminal(output);
        const string message = @"   [red]boom[/] [bold \x1b[2K\r\x1b[1Aplan applied\nsecond line";
        var rows = output.TrimEnd('\n').Split('\n');
        Assert.Equal(4, rows.Length);
        foreach (var row in new[] { rows[1], rows[3] })
        {
            Assert.Contains(@" node/w\u202e1 ", row);
            Assert.EndsWith(message, row);
        }
    }

    [Fact]
    public async Task Plan_apply_wait_shows_a_hostile_failed_step_escaped()
    {
        var (env, stdout, _) = Terminal();
        var step = HostileDescription().Runs[0].Steps.Single(s => s.State == StepState.Failed);
        await env.Out.WriteAsync(PlanRunViews.Transition(step));
        var output = stdout.ToString();

        AssertNothingActsOnTheTerminal(output);
        Assert.StartsWith(@"[kubelet-config/write-dropin] failed after 1m2s: verification failed\x1b]8;;http://evil.example/\x07click", output);
        Assert.Contains(@"    | \x1b[1A\x1b[2Kall good\rfake line", output);
    }

    [Fact]
    public async Task Rollout_status_watch_on_a_terminal_clears_the_screen_itself_but_prints_node_text_escaped()
    {
        var r = RolloutSamples.DryRun();
        r.State = RolloutState.Paused;
        r.StateReason = "canary node w01 failed: \u001b[2J\u001b[3J";
        r.Nodes[0].State = RolloutNodeState.Failed;
        r.Nodes[0].Message = "preflight/checks: \u009b2J\nsecond\u202e line";
        var done = r.Clone();
        done.State = RolloutState.Succeeded;
        done.Final = true;
        var (env, stdout, stderr) = Terminal();
        var polls = 0;
        await RolloutCommands.WatchAsync(_ => Task.FromResult(polls++ == 0 ? r : done), redraw: true, TimeProvider.System,
            (_, _) => Task.CompletedTask, env.Out, env.Error, CancellationToken.None);
        var output = stdout.ToString();

        Assert.Equal("", stderr.ToString());
        var frames = output.Split(RolloutCommands.ClearScreen, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, frames.Length);
        AssertNothingActsOnTheTerminal(string.Concat(frames));
        Assert.Contains(@"State:            PAUSED: canary node w01 failed: \x1b[2J\x1b[3J" + "\n", frames[0]);
        Assert.Contains("  w01 (wave 0): preflight/checks: \\x9b2J\n      second\\u202e line\n", frames[0]);
    }

    [Fact]
    public async Task An_error_that_quotes_the_coordinator_is_printed_escaped()
    {
        var (env, _, stderr) = Terminal();
        var failure = CliConnection.Translate(new RpcException(new Status(StatusCode.NotFound, "node \"w1\u001b]0;OWNED\u0007\" not found")),
            "coordinator:7443", CliConnection.CallTimeout, cancelledByCaller: false);
        var command = new RootCommand();
        command.SetGuardedAction(env, (_, _) => Task.FromException<int>(failure));
        var code = await command.Parse([]).InvokeAsync(new InvocationConfiguration { Output = env.Out, Error = env.Error });

        Assert.Equal(1, code);
        Assert.Equal("error: node \"w1\\x1b]0;OWNED\\x07\" not found\n", stderr.ToString());
    }

    [Fact]
    public async Task An_argument_quoted_in_an_error_is_printed_escaped()
    {
        var (code, stdout, stderr) = await CliRun.Run("token", "delete", "\u001b]0;OWNED\u0007");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith(@"error: '\x1b]0;OWNED\x07' is not a token id", stderr);
        AssertNothingActsOnTheTerminal(stderr);
    }

    [Fact]
    public void Table_cells_are_text_not_markup()
    {
        var table = new Table("A", "B").AddRow("[red]boom[/]", "[bold").AddRow("[[x]]", "]").Render();
        Assert.Equal("A              B\n[red]boom[/]   [bold\n[[x]]          ]\n", table);
    }

    [Theory]
    [InlineData("json")]
    [InlineData("yaml")]
    public void Json_and_yaml_carry_hostile_strings_exactly_and_hold_none_raw(string format)
    {
        var description = HostileDescription();
        var (env, stdout, _) = Terminal();
        Formats.Write(env.Out, Formats.ToNode(description), Formats.Parse(format));
        var output = stdout.ToString();

        AssertNothingActsOnTheTerminal(output);
        var doc = format == "json" ? JsonNode.Parse(output)! : FromYaml(output);
        var node = doc["node"]!;
        Assert.Equal(PrettyName, (string?)node["facts"]!["os"]);
        Assert.Equal(Hostname, (string?)node["facts"]!["hostname"]);
        Assert.Equal(Kernel, (string?)node["facts"]!["kernel"]);
        Assert.Equal("a\u001b[8m", (string?)node["labels"]!["zone"]);
        Assert.Equal(EventMessage, (string?)doc["events"]![0]!["message"]);
        var step = description.Runs[0].Steps.Single(s => s.State == StepState.Failed);
        var failed = doc["runs"]![0]!["steps"]!.AsArray().Single(s => (string?)s!["state"] == "STEP_STATE_FAILED")!;
        Assert.Equal(step.OutputTail, (string?)failed["outputTail"]);
        Assert.Equal(step.Message, (string?)failed["message"]);
        Assert.Equal(description.Runs[0].Error, (string?)doc["runs"]![0]!["error"]);
    }

    [Fact]
    public void Json_lines_of_events_f_carry_hostile_messages_exactly_and_hold_none_raw()
    {
        var e = new Event { Type = "Normal", Reason = "PlanApplied", Node = "w\u202e1", Message = EventMessage };
        var (env, stdout, _) = Terminal();
        env.Out.Write(Formats.ToJsonLine(Formats.ToNode(e)));
        var output = stdout.ToString();

        AssertNothingActsOnTheTerminal(output);
        Assert.Single(output.TrimEnd('\n').Split('\n'));
        var doc = JsonNode.Parse(output)!;
        Assert.Equal(EventMessage, (string?)doc["message"]);
        Assert.Equal("w\u202e1", (string?)doc["node"]);
    }

    [Theory]
    [InlineData("\u001b[31mred\u001b[0m")]
    [InlineData("two\nlines\u001b]0;t\u0007\n")]
    [InlineData("cr\rlf\r\ncrlf")]
    [InlineData("nel\u0085ls\u2028ps\u2029")]
    [InlineData("\u009b2J\u009d0;t\u009c\u007f")]
    [InlineData("\u202eevil\u202c \u2066iso\u2069 \u202a\u202b\u202d\u2067\u2068")]
    [InlineData("tab\there")]
    [InlineData("trailing spaces and a control\u0001   ")]
    [InlineData("2030-01-01T00:00:00Z\u001b")]
    public void Yaml_reads_back_every_string_exactly(string value)
    {
        var long_ = string.Concat(Enumerable.Repeat(value + " word", 30));
        var doc = new JsonObject { ["v"] = value, ["long"] = long_, [$"key{value}"] = "k", ["list"] = new JsonArray(value) };
        var yaml = Formats.ToYaml(doc);

        AssertNothingActsOnTheTerminal(yaml);
        var back = FromYaml(yaml);
        Assert.Equal(value, (string?)back["v"]);
        Assert.Equal(long_, (string?)back["long"]);
        Assert.Equal("k", (string?)back[$"key{value}"]);
        Assert.Equal(value, (string?)back["list"]![0]);
    }

    [Theory]
    [InlineData("\u001b[31mred\u001b[0m\n\r\t")]
    [InlineData("\u009b2J\u009d0;t\u009c\u007f\u0085")]
    [InlineData("\u202eevil\u202c \u2066iso\u2069 \u202a\u202b\u202d\u2067\u2068")]
    public void Json_reads_back_every_string_exactly(string value)
    {
        var doc = new JsonObject { ["v"] = value, [$"key{value}"] = "k" };
        foreach (var json in new[] { Formats.ToJson(doc), Formats.ToJsonLine(doc) })
        {
            AssertNothingActsOnTheTerminal(json);
            var back = JsonNode.Parse(json)!;
            Assert.Equal(value, (string?)back["v"]);
            Assert.Equal("k", (string?)back[$"key{value}"]);
        }
    }

    [Fact]
    public void Multi_line_strings_without_controls_are_still_literal_blocks()
    {
        var yaml = Formats.ToYaml(new JsonObject { ["tail"] = "line one\n\tline two\n" });
        Assert.Equal("tail: |\n  line one\n  \tline two\n", yaml);
    }

    /// <summary>A YAML document as JSON, read by YamlDotNet as a YAML library user would read it.</summary>
    private static JsonNode FromYaml(string yaml)
    {
        var plain = new DeserializerBuilder().Build().Deserialize<object>(yaml);
        return JsonSerializer.SerializeToNode(plain)!;
    }
}
