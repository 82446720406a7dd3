using System.Text;

namespace NodeFleet.Cli.Output;

/// <summary>
/// The CLI's standard output and standard error (<see cref="CliEnvironment"/> puts every writer it is given behind
/// one): whatever is written, a table, a describe view, an event line, a watch frame, an "error: …" line quoting the
/// coordinator, goes out through <see cref="TerminalText.Block(string)"/>, so text that came from a node cannot drive
/// the terminal (set its title, clear it, write the clipboard, hide lines, reorder text).
/// </summary>
/// <remarks>
/// JSON and YAML go through it too and come out unchanged: both formats escape these characters themselves (see
/// <see cref="Formats"/>), so the documents hold none of them raw. The CLI's own control sequences (the screen clear
/// of <c>rollout status -w</c> on a terminal) are written past it with <see cref="WriteControlAsync"/>.
/// </remarks>
public sealed class TerminalWriter : TextWriter
{
    private TerminalWriter(TextWriter inner) : base(inner.FormatProvider)
    {
        Inner = inner;
        NewLine = inner.NewLine;
    }

    /// <summary>The writer the escaped text goes to.</summary>
    public TextWriter Inner { get; }

    public override Encoding Encoding => Inner.Encoding;

    /// <summary><paramref name="writer"/> behind a <see cref="TerminalWriter"/> (itself when it already is one).</summary>
    public static TextWriter Over(TextWriter writer) => writer as TerminalWriter ?? new TerminalWriter(writer);

    /// <summary>The writer under a <see cref="TerminalWriter"/>, or <paramref name="writer"/> itself.</summary>
    public static TextWriter Unwrap(TextWriter writer) => writer is TerminalWriter t ? t.Inner : writer;

    /// <summary>Writes a control sequence of the CLI's own (never text from elsewhere) as it is.</summary>
    public static Task WriteControlAsync(TextWriter writer, string sequence) => Unwrap(writer).WriteAsync(sequence);

    public override void Write(char value)
    {
        if (TerminalText.IsUnsafe(value)) Inner.Write(TerminalText.Escape(value));
        else Inner.Write(value);
    }

    public override void Write(string? value)
    {
        if (value is not null) Inner.Write(TerminalText.Block(value));
    }

    public override void Write(char[] buffer, int index, int count) => Write(buffer.AsSpan(index, count));

    public override void Write(ReadOnlySpan<char> buffer) => Inner.Write(TerminalText.Block(buffer));

    public override void WriteLine() => Inner.WriteLine();

    public override void WriteLine(string? value)
    {
        Write(value);
        Inner.WriteLine();
    }

    public override void WriteLine(ReadOnlySpan<char> buffer)
    {
        Write(buffer);
        Inner.WriteLine();
    }

    public override Task WriteAsync(char value) => Inner.WriteAsync(TerminalText.Block(value.ToString()));

    public override Task WriteAsync(string? value) => value is null ? Task.CompletedTask : Inner.WriteAsync(TerminalText.Block(value));

    public override Task WriteAsync(char[] buffer, int index, int count) => Inner.WriteAsync(TerminalText.Block(buffer.AsSpan(index, count)));

    public override Task WriteAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default) =>
        Inner.WriteAsync(TerminalText.Block(buffer.Span).AsMemory(), cancellationToken);

    public override Task WriteLineAsync() => Inner.WriteLineAsync();

    public override async Task WriteLineAsync(char value)
    {
        await WriteAsync(value);
        await Inner.WriteLineAsync();
    }

    public override async Task WriteLineAsync(string? value)
    {
        await WriteAsync(value);
        await Inner.WriteLineAsync();
    }

    public override async Task WriteLineAsync(char[] buffer, int index, int count)
    {
        await WriteAsync(buffer, index, count);
        await Inner.WriteLineAsync();
    }

    public override async Task WriteLineAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
    {
        await WriteAsync(buffer, cancellationToken);
        await Inner.WriteLineAsync();
    }

    public override void Flush() => Inner.Flush();

    public override Task FlushAsync() => Inner.FlushAsync();

    public override Task FlushAsync(CancellationToken cancellationToken) => Inner.FlushAsync(cancellationToken);
}
