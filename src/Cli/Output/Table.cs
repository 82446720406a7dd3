using Spectre.Console;
using Spectre.Console.Rendering;

namespace NodeFleet.Cli.Output;

/// <summary>
/// A kubectl-style table: upper-case headers, no borders, columns three spaces apart, one row per line,
/// so output stays grep- and awk-able.
/// </summary>
public sealed class Table(params string[] headers)
{
    private const int Gap = 3;

    // Wide enough that Spectre never wraps a row: a wrapped row would break line-oriented tools.
    private const int UnlimitedWidth = 100_000;

    private readonly List<string[]> _rows = [];

    public IReadOnlyList<string> Headers { get; } = headers;

    public IReadOnlyList<IReadOnlyList<string>> Rows => _rows;

    public Table AddRow(params string[] cells)
    {
        if (cells.Length != Headers.Count)
            throw new ArgumentException($"expected {Headers.Count} cells, got {cells.Length}", nameof(cells));
        _rows.Add(cells);
        return this;
    }

    /// <summary>The table as text, each line prefixed by <paramref name="indent"/> and ending in a newline.</summary>
    public string Render(string indent = "")
    {
        var buffer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(buffer),
        });
        console.Profile.Width = UnlimitedWidth;

        var table = new Spectre.Console.Table().NoBorder();
        for (var i = 0; i < Headers.Count; i++)
        {
            var last = i == Headers.Count - 1;
            table.AddColumn(new TableColumn(new Text(Headers[i])).PadLeft(0).PadRight(last ? 0 : Gap).NoWrap());
        }
        foreach (var row in _rows) table.AddRow(row.Select(c => (IRenderable)new Text(OneLine(c))));
        console.Write(table);

        // Spectre pads every cell to its column width; trailing blanks are noise in files and diffs.
        var lines = buffer.ToString().Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0);
        return string.Concat(lines.Select(l => $"{indent}{l}\n"));
    }

    public void WriteTo(TextWriter writer, string indent = "") => writer.Write(Render(indent));

    /// <summary>
    /// A cell never spans lines, even when a free-text field (a description, an event message) contains newlines: they
    /// are shown as "\n", tabs as "\t" (so they cannot throw the columns out), and control characters escaped, before
    /// the column widths are measured (see <see cref="TerminalText.Line"/>). Cells are plain text, never markup.
    /// </summary>
    private static string OneLine(string cell) => TerminalText.Line(cell);
}
