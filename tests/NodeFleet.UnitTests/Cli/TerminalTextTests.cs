using NodeFleet.Cli;
using NodeFleet.Cli.Output;

namespace NodeFleet.Tests.Cli;

/// <summary>The escaping of text from nodes for a terminal, and the writer every human-readable line goes through.</summary>
public class TerminalTextTests
{
    /// <summary>What a terminal acts on, as the finding lists it; written out here rather than taken from the code under test.</summary>
    internal static bool ActsOnTerminal(char c) =>
        (c < 0x20 && c != '\n' && c != '\t') || (c >= 0x7f && c <= 0x9f) || c is (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');

    [Theory]
    // C0 controls
    [InlineData("\u0000", @"\x00")]
    [InlineData("\u0007", @"\x07")] // BEL, ends an OSC
    [InlineData("\u0008", @"\x08")] // backspace
    [InlineData("\u000b", @"\x0b")]
    [InlineData("\u000c", @"\x0c")]
    [InlineData("\r", @"\r")] // goes back to the start of the line, to write over it
    [InlineData("\u001b", @"\x1b")] // ESC
    [InlineData("\u001f", @"\x1f")]
    // DEL
    [InlineData("\u007f", @"\x7f")]
    // C1 controls
    [InlineData("\u0080", @"\x80")]
    [InlineData("\u0085", @"\x85")] // NEL
    [InlineData("\u009b", @"\x9b")] // 8-bit CSI
    [InlineData("\u009d", @"\x9d")] // 8-bit OSC
    [InlineData("\u009f", @"\x9f")]
    // bidi embeddings, overrides and isolates
    [InlineData("\u202a", @"\u202a")]
    [InlineData("\u202b", @"\u202b")]
    [InlineData("\u202c", @"\u202c")]
    [InlineData("\u202d", @"\u202d")]
    [InlineData("\u202e", @"\u202e")]
    [InlineData("\u2066", @"\u2066")]
    [InlineData("\u2067", @"\u2067")]
    [InlineData("\u2068", @"\u2068")]
    [InlineData("\u2069", @"\u2069")]
    public void Each_character_a_terminal_acts_on_is_shown_escaped_in_blocks_and_lines(string c, string shown)
    {
        Assert.Equal($"a{shown}b", TerminalText.Block($"a{c}b"));
        Assert.Equal($"a{shown}b", TerminalText.Line($"a{c}b"));
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("~")]
    [InlineData("\u00a0")] // the first character after the C1 controls
    [InlineData("é")]
    [InlineData("\u2029")]
    [InlineData("\u2065")] // either side of the isolates
    [InlineData("\u206a")]
    [InlineData("\u202f")] // after the overrides
    [InlineData("\u2028\u2029")]
    [InlineData("😀")]
    [InlineData("[red]x[/]")]
    [InlineData(@"C:\x1b is text")]
    public void Printable_text_is_left_as_it_is(string text)
    {
        Assert.Equal(text, TerminalText.Block(text));
        Assert.Equal(text, TerminalText.Line(text));
    }

    [Fact]
    public void A_block_keeps_newlines_and_tabs_and_a_line_shows_them_escaped()
    {
        const string text = "E0101 failed\n\tat main.go:12\r\nnext\u001b[1A\u001b[2K";
        Assert.Equal("E0101 failed\n\tat main.go:12\\r\nnext\\x1b[1A\\x1b[2K", TerminalText.Block(text));
        Assert.Equal(@"E0101 failed\n\tat main.go:12\r\nnext\x1b[1A\x1b[2K", TerminalText.Line(text));
    }

    [Fact]
    public void No_character_comes_out_raw_that_a_terminal_acts_on()
    {
        for (var i = 0; i <= 0xffff; i++)
        {
            var c = (char)i;
            var block = TerminalText.Block($"{c}");
            var line = TerminalText.Line($"{c}");
            if (ActsOnTerminal(c))
            {
                Assert.True(block.Length > 1 && block[0] == '\\' && !block.Any(ActsOnTerminal), $"U+{i:X4} -> {block}");
                Assert.Equal(block, line);
            }
            else if (c is '\n' or '\t')
            {
                Assert.Equal($"{c}", block);
                Assert.Equal(c == '\n' ? @"\n" : @"\t", line);
            }
            else
            {
                Assert.True(block == $"{c}" && line == $"{c}", $"U+{i:X4} was changed");
            }
        }
    }

    [Fact]
    public void The_title_clear_and_clipboard_sequences_of_the_finding_are_shown_escaped()
    {
        const string prettyName = "Debian GNU/Linux 12\u001b]0;OWNED\u0007\u001b[2J\u001b[31m\u001b]52;c;cm0gLXJmIH4=\u0007";
        Assert.Equal(@"Debian GNU/Linux 12\x1b]0;OWNED\x07\x1b[2J\x1b[31m\x1b]52;c;cm0gLXJmIH4=\x07", TerminalText.Line(prettyName));
    }

    [Fact]
    public async Task The_writer_escapes_whatever_way_text_is_written()
    {
        var inner = new StringWriter();
        var w = TerminalWriter.Over(inner);
        w.Write('\u001b');
        w.Write("[2J\u009b\n");
        w.Write("x\u0007y".ToCharArray(), 1, 1);
        w.Write("\u202e".AsSpan());
        w.WriteLine("\ra");
        w.WriteLine("\u0085".AsSpan());
        await w.WriteAsync('\u0008');
        await w.WriteAsync("\u2066\t");
        await w.WriteAsync("\u007f".AsMemory());
        await w.WriteAsync("-\u001b-".ToCharArray(), 1, 1);
        await w.WriteLineAsync("\u0000");
        await w.WriteLineAsync('\u009d');
        await w.WriteLineAsync("\u0001".AsMemory());
        await w.FlushAsync();
        Assert.Equal("\\x1b[2J\\x9b\n\\x07\\u202e\\ra\n\\x85\n\\x08\\u2066\t\\x7f\\x1b\\x00\n\\x9d\n\\x01\n", inner.ToString());
    }

    [Fact]
    public async Task Only_the_clis_own_control_sequences_get_past_the_writer()
    {
        var inner = new StringWriter();
        var w = TerminalWriter.Over(inner);
        await TerminalWriter.WriteControlAsync(w, "\u001b[H\u001b[2J");
        await w.WriteAsync("\u001b[H\u001b[2J");
        Assert.Equal("\u001b[H\u001b[2J" + @"\x1b[H\x1b[2J", inner.ToString());
        Assert.Same(inner, TerminalWriter.Unwrap(w));
        Assert.Same(w, TerminalWriter.Over(w));
    }

    [Fact]
    public void The_cli_environment_writes_through_the_escaping_writer_however_it_is_made()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var env = new CliEnvironment(stdout, stderr, _ => null, null, _ => false, TimeProvider.System);
        env.Out.Write("a\u001b]0;x\u0007");
        env.Error.Write("b\u009b2J");
        Assert.Equal(@"a\x1b]0;x\x07", stdout.ToString());
        Assert.Equal(@"b\x9b2J", stderr.ToString());

        var other = new StringWriter();
        (env with { Out = other }).Out.Write("\u202e");
        Assert.Equal(@"\u202e", other.ToString());
        Assert.Same(stdout, TerminalWriter.Unwrap(env.Out));
    }
}
