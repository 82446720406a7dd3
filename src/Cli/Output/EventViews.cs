using System.Text;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>`nodefleet events` as kubectl prints events (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE), with who made the change (ACTOR).</summary>
public static class EventViews
{
    public static readonly string[] Headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "ACTOR", "MESSAGE"];

    /// <summary>The events in the order given (oldest first), ages relative to <paramref name="now"/>.</summary>
    public static Table List(IEnumerable<Event> events, DateTimeOffset now)
    {
        var table = new Table(Headers);
        foreach (var e in events) table.AddRow(Row(e, now));
        return table;
    }

    public static string[] Row(Event e, DateTimeOffset now) =>
        [TimeText.Age(e.Time, now), OrDash(e.Type), OrDash(e.Reason), Object(e), OrDash(e.Actor), e.Message];

    /// <summary>What the event is about: the node if there is one, else the rollout ("node/w1", "rollout/r-42").</summary>
    public static string Object(Event e) =>
        e.Node.Length > 0 ? $"node/{e.Node}" : e.Rollout.Length > 0 ? $"rollout/{e.Rollout}" : TimeText.None;

    private static string OrDash(string s) => s.Length == 0 ? TimeText.None : s;
}

/// <summary>
/// `nodefleet events -f`: one line per event as it arrives, never re-rendered, so the output can be piped. Columns
/// have fixed minimum widths (a live stream has no "whole table" to measure); a longer cell widens its column from
/// that line on.
/// </summary>
public sealed class EventLines
{
    private const int Gap = 3;
    private readonly int[] _widths = [9, 7, 16, 24, 12];

    public string Header() => Format(EventViews.Headers);

    public string Line(Event e, DateTimeOffset now) => Format(EventViews.Row(e, now));

    private string Format(IReadOnlyList<string> cells)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < cells.Count; i++)
        {
            // One line per event, whatever the message holds: newlines, tabs and control characters shown escaped.
            var cell = TerminalText.Line(cells[i]);
            if (i == cells.Count - 1)
            {
                sb.Append(cell);
                break;
            }
            _widths[i] = Math.Max(_widths[i], cell.Length);
            sb.Append(cell.PadRight(_widths[i] + Gap));
        }
        return sb.ToString().TrimEnd() + "\n";
    }
}
