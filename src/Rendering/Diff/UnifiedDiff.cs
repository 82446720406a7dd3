using System.Globalization;
using System.Text;
using DiffPlex;
using DiffPlex.Model;

namespace NodeFleet.Rendering;

/// <summary>
/// A unified diff (<c>diff -u</c> format: <c>---</c>/<c>+++</c> headers, <c>@@</c> hunks with 3 lines of context) of a
/// file's current and desired bytes, for dry runs. Lines are matched by DiffPlex's differ; the hunks are formatted
/// here because DiffPlex's own unidiff renderer miscounts a final newline and has no "No newline at end of file".
/// </summary>
public static class UnifiedDiff
{
    private const int Context = 3;
    private const string NoNewline = "\\ No newline at end of file";

    /// <summary>
    /// The diff from <paramref name="before"/> (null: the file does not exist, shown as <c>/dev/null</c>) to
    /// <paramref name="after"/>; empty when the bytes are equal. Bytes that are not UTF-8 are shown as U+FFFD.
    /// </summary>
    public static string Create(string path, byte[]? before, byte[] after)
    {
        if (before is not null && before.AsSpan().SequenceEqual(after)) return "";
        var oldText = before is null ? "" : Encoding.UTF8.GetString(before);
        var newText = Encoding.UTF8.GetString(after);
        var diff = Differ.Instance.CreateDiffs(oldText, newText, ignoreWhiteSpace: false, ignoreCase: false, new LineChunker());

        var sb = new StringBuilder();
        sb.Append("--- ").Append(before is null ? "/dev/null" : path).Append('\n');
        sb.Append("+++ ").Append(path).Append('\n');
        foreach (var hunk in Hunks(diff.DiffBlocks))
            AppendHunk(sb, diff, hunk);
        return sb.ToString();
    }

    /// <summary>Groups change blocks whose unchanged gap is small enough that their contexts would touch.</summary>
    private static IEnumerable<List<DiffBlock>> Hunks(IList<DiffBlock> blocks)
    {
        var current = new List<DiffBlock>();
        foreach (var block in blocks)
        {
            if (current.Count > 0)
            {
                var last = current[^1];
                if (block.DeleteStartA - (last.DeleteStartA + last.DeleteCountA) > 2 * Context)
                {
                    yield return current;
                    current = [];
                }
            }
            current.Add(block);
        }
        if (current.Count > 0) yield return current;
    }

    private static void AppendHunk(StringBuilder sb, DiffResult diff, List<DiffBlock> blocks)
    {
        var oldLines = diff.PiecesOld;
        var newLines = diff.PiecesNew;
        var first = blocks[0];
        var last = blocks[^1];
        var oldStart = Math.Max(0, first.DeleteStartA - Context);
        var oldEnd = Math.Min(oldLines.Count, last.DeleteStartA + last.DeleteCountA + Context);
        var newStart = oldStart + (first.InsertStartB - first.DeleteStartA);
        var newEnd = oldEnd + (last.InsertStartB + last.InsertCountB) - (last.DeleteStartA + last.DeleteCountA);

        sb.Append("@@ -").Append(Range(oldStart, oldEnd - oldStart))
          .Append(" +").Append(Range(newStart, newEnd - newStart)).Append(" @@\n");

        var a = oldStart;
        foreach (var block in blocks)
        {
            for (; a < block.DeleteStartA; a++) AppendLine(sb, ' ', oldLines[a]);
            for (var i = 0; i < block.DeleteCountA; i++) AppendLine(sb, '-', oldLines[block.DeleteStartA + i]);
            for (var i = 0; i < block.InsertCountB; i++) AppendLine(sb, '+', newLines[block.InsertStartB + i]);
            a = block.DeleteStartA + block.DeleteCountA;
        }
        for (; a < oldEnd; a++) AppendLine(sb, ' ', oldLines[a]);
    }

    // diff -u: "start,count" with 1-based start; a count of 1 is omitted; an empty range names the line before it.
    private static string Range(int start, int count) => count switch
    {
        0 => start.ToString(CultureInfo.InvariantCulture) + ",0",
        1 => (start + 1).ToString(CultureInfo.InvariantCulture),
        _ => (start + 1).ToString(CultureInfo.InvariantCulture) + "," + count.ToString(CultureInfo.InvariantCulture),
    };

    private static void AppendLine(StringBuilder sb, char marker, string line)
    {
        sb.Append(marker);
        if (line.EndsWith('\n')) sb.Append(line);
        else sb.Append(line).Append('\n').Append(NoNewline).Append('\n');
    }

    /// <summary>Lines with their terminators, so that a last line without a newline differs from one with it.</summary>
    private sealed class LineChunker : IChunker
    {
        public IReadOnlyList<string> Chunk(string text)
        {
            var lines = new List<string>();
            var start = 0;
            while (start < text.Length)
            {
                var nl = text.IndexOf('\n', start);
                var end = nl < 0 ? text.Length : nl + 1;
                lines.Add(text[start..end]);
                start = end;
            }
            return lines;
        }
    }
}
