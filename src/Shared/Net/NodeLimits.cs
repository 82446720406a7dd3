using System.Globalization;

namespace NodeFleet.Net;

/// <summary>
/// How much of what a node sends the coordinator keeps. Every field a node sends is stored and then shown to every
/// operator (`nodefleet nodes`, `node describe`): one node must not be able to grow the database or break those
/// lists for everyone. The coordinator applies these limits where a node's message comes in (join, hello, step
/// reports); the agent applies the same before it sends, so a well-behaved node never loses more than the marker says.
/// Text that is output or a message is cut with a visible marker; facts and labels beyond their limits are not
/// plausible and are refused with the field named.
/// </summary>
public static class NodeLimits
{
    /// <summary>
    /// The longest reconnect window a coordinator tells and an agent accepts: beyond it a broken stream would leave a
    /// node out of reach for too long, whatever the fleet.
    /// </summary>
    public static readonly TimeSpan MaxReconnectWindow = TimeSpan.FromMinutes(10);

    /// <summary>A step's last output lines: 8 KiB, its end kept (the end is where the error is).</summary>
    public const int MaxOutputTail = 8 * 1024;

    /// <summary>A step's message or a run's error: 4 KiB, its start kept.</summary>
    public const int MaxMessage = 4 * 1024;

    /// <summary>An identifier a report carries (run id, plan name, phase, step, rollout id, stage, journal epoch).</summary>
    public const int MaxIdentifier = 256;

    /// <summary>
    /// One fact (hostname, OS, kernel, runtime endpoint...): real ones are under 100 characters; 256 is far above a
    /// kernel release or an os-release PRETTY_NAME and far below what would matter in a list of 10,000 nodes.
    /// </summary>
    public const int MaxFact = 256;

    /// <summary>Labels a node may ask for when it joins.</summary>
    public const int MaxJoinLabels = 64;

    /// <summary>Steps recorded for one run: a plan at its limits has a few hundred.</summary>
    public const int MaxStepsPerRun = 2000;

    /// <summary>
    /// Reports in one ReportBatch: a preflight-only plan makes about ten, a whole plan a few dozen; a longer backlog
    /// (after a disconnection) goes in several batches. The coordinator refuses a batch above it.
    /// </summary>
    public const int MaxReportsPerBatch = 128;

    /// <summary>
    /// The bytes of one ReportBatch the agent sends: 1 MiB, a quarter of what a message may be
    /// (<see cref="MessageLimits.MaxRequestBytes"/>), so that a batch of reports at their limits is never refused.
    /// </summary>
    public const int MaxReportBatchBytes = 1024 * 1024;

    /// <summary>How many characters of an offending value an error quotes.</summary>
    public const int MaxQuoted = 64;

    /// <summary>The marker that replaces what was cut: "[… 4186112 characters cut by NodeFleet: the text was 4194304 characters …]".</summary>
    public static string Marker(int cut, int total) =>
        string.Create(CultureInfo.InvariantCulture, $"[… {cut} characters cut by NodeFleet: the text was {total} characters …]");

    /// <summary>The last <paramref name="max"/> characters of <paramref name="text"/> at most, the marker first when cut.</summary>
    public static string KeepEnd(string text, int max)
    {
        if (text.Length <= max) return text;
        var marker = Marker(0, text.Length);
        // The marker's own length depends on the count it shows; a few characters of slack keep the total under max.
        var keep = Math.Max(0, max - marker.Length - 8);
        return Marker(text.Length - keep, text.Length) + "\n" + text[^keep..];
    }

    /// <summary>The first <paramref name="max"/> characters of <paramref name="text"/> at most, the marker last when cut.</summary>
    public static string KeepStart(string text, int max)
    {
        if (text.Length <= max) return text;
        var marker = Marker(0, text.Length);
        var keep = Math.Max(0, max - marker.Length - 8);
        return text[..keep] + " " + Marker(text.Length - keep, text.Length);
    }

    /// <summary>An identifier cut to <see cref="MaxIdentifier"/> (no marker: it is a key, not text to read).</summary>
    public static string Identifier(string text) => text.Length <= MaxIdentifier ? text : text[..MaxIdentifier];

    /// <summary>The start of a value for an error message, with its length when cut.</summary>
    public static string Quote(string value) =>
        value.Length <= MaxQuoted ? value : string.Create(CultureInfo.InvariantCulture, $"{value[..MaxQuoted]}… ({value.Length} characters)");

    /// <summary>Null when the fact is within its limit, else the error naming it.</summary>
    public static string? FactError(string field, string value) =>
        value.Length <= MaxFact
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"fact {field} is {value.Length} characters ('{Quote(value)}'); a fact may be at most {MaxFact}");

    /// <summary>
    /// Cuts a step report's texts to their limits in place: output tail (end kept), message (start kept), identifiers.
    /// True when anything was cut.
    /// </summary>
    public static bool Clamp(NodeFleet.Protocol.V1.StepReport r)
    {
        var before = (r.OutputTail.Length, r.Message.Length, r.RunId.Length + r.PlanName.Length + r.Phase.Length + r.Step.Length
            + r.RolloutId.Length + r.Stage.Length + r.JournalEpoch.Length);
        r.OutputTail = KeepEnd(r.OutputTail, MaxOutputTail);
        r.Message = KeepStart(r.Message, MaxMessage);
        r.RunId = Identifier(r.RunId);
        r.PlanName = Identifier(r.PlanName);
        r.Phase = Identifier(r.Phase);
        r.Step = Identifier(r.Step);
        r.RolloutId = Identifier(r.RolloutId);
        r.Stage = Identifier(r.Stage);
        r.JournalEpoch = Identifier(r.JournalEpoch);
        return before != (r.OutputTail.Length, r.Message.Length, r.RunId.Length + r.PlanName.Length + r.Phase.Length + r.Step.Length
            + r.RolloutId.Length + r.Stage.Length + r.JournalEpoch.Length);
    }

    /// <summary>
    /// Null when every fact is within its limit, else the error naming the first that is not. Every string field of
    /// NodeFacts is a fact, checked by its JSON name, so a fact added to the message is bounded without a change here.
    /// </summary>
    public static string? FactsError(NodeFleet.Protocol.V1.NodeFacts? f)
    {
        if (f is null) return null;
        foreach (var field in StringFacts)
            if (FactError(field.JsonName, (string)field.Accessor.GetValue(f)) is { } error) return error;
        return null;
    }

    /// <summary>The facts with each field cut to its limit (what the agent sends).</summary>
    public static NodeFleet.Protocol.V1.NodeFacts ClampFacts(NodeFleet.Protocol.V1.NodeFacts f)
    {
        var clamped = f.Clone();
        foreach (var field in StringFacts) field.Accessor.SetValue(clamped, Cut((string)field.Accessor.GetValue(f)));
        return clamped;
    }

    private static readonly IReadOnlyList<Google.Protobuf.Reflection.FieldDescriptor> StringFacts =
        NodeFleet.Protocol.V1.NodeFacts.Descriptor.Fields.InFieldNumberOrder()
            .Where(d => d.FieldType == Google.Protobuf.Reflection.FieldType.String && !d.IsRepeated && !d.IsMap).ToList();

    private static string Cut(string s) => s.Length <= MaxFact ? s : s[..MaxFact];

    /// <summary>Null when the labels a node asks for at join are within limits (count and lengths), else why not.</summary>
    public static string? JoinLabelsError(IReadOnlyCollection<KeyValuePair<string, string>> labels)
    {
        if (labels.Count > MaxJoinLabels)
            return string.Create(CultureInfo.InvariantCulture, $"{labels.Count} labels asked for; a node may join with at most {MaxJoinLabels}");
        foreach (var (k, v) in labels)
        {
            // Checked before the syntax, whose error quotes the whole key or value.
            if (k.Length > 317) return $"label key '{Quote(k)}' is longer than a label key can be (317 characters)";
            if (v.Length > 63) return $"label '{Quote(k)}': value '{Quote(v)}' is longer than 63 characters";
        }
        return null;
    }
}
