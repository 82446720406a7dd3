using System.Globalization;
using System.Text.Json;

namespace NodeFleet.Bench;

/// <summary>One event of the agent's <c>--log-format json</c> output (Serilog compact JSON: @t, @mt, properties).</summary>
public sealed record AgentEvent(DateTime Time, string Template, IReadOnlyDictionary<string, string> Properties)
{
    public string this[string property] => Properties.TryGetValue(property, out var v) ? v : "";

    /// <summary>The events in <paramref name="stdout"/>, in order; lines that are not JSON objects are skipped.</summary>
    public static IReadOnlyList<AgentEvent> Parse(string stdout)
    {
        var events = new List<AgentEvent>();
        foreach (var line in stdout.Split('\n'))
        {
            var l = line.Trim();
            if (!l.StartsWith('{')) continue;
            try
            {
                using var doc = JsonDocument.Parse(l);
                var root = doc.RootElement;
                if (!root.TryGetProperty("@t", out var t) || !root.TryGetProperty("@mt", out var mt)) continue;
                var props = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var p in root.EnumerateObject())
                {
                    if (p.Name.StartsWith('@')) continue;
                    props[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
                }
                events.Add(new AgentEvent(
                    DateTime.Parse(t.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
                    mt.GetString()!, props));
            }
            catch (JsonException) { }
        }
        return events;
    }
}

/// <summary>
/// Where one `nodefleet-agent apply` spent its wall-clock time, from the bench's own clock at process start and exit
/// and the timestamps of the agent's log events between them (same machine clock).
/// </summary>
/// <param name="StartUp">process start → "Applying plan": .NET runtime start, command-line parsing, dependency
/// injection, plan load and validation, journal (LiteDB) open, run and step records inserted.</param>
/// <param name="StepStart">"Applying plan" → "[prepull-images/pull] running": the step's journal write and outbox report.</param>
/// <param name="Checks">"running" → "pulling N of M images": the CRI probe (Version) and the ImageStatus checks
/// (CheckAsync, then again in ApplyAsync), and the first gRPC connection.</param>
/// <param name="Pulls">"pulling N of M" → the last "pulled n/n": the PullImage calls, 3 at a time, each followed by
/// an ImageStatus for its size and a journaled progress report.</param>
/// <param name="Verify">last "pulled" → "[prepull-images/pull] applied": VerifyAsync's ImageStatus checks and the step's
/// final journal write.</param>
/// <param name="Finish">"applied" → process exit: the run's final journal write, log flush, runtime shutdown.</param>
public sealed record AgentBreakdown(TimeSpan StartUp, TimeSpan StepStart, TimeSpan Checks, TimeSpan Pulls, TimeSpan Verify, TimeSpan Finish)
{
    public static readonly string[] Names = ["start-up", "step start", "checks", "pulls", "verify", "finish"];

    public TimeSpan[] Values => [StartUp, StepStart, Checks, Pulls, Verify, Finish];

    /// <summary>Null when an expected event is missing (the log format changed: the totals stay valid).</summary>
    public static AgentBreakdown? From(DateTime started, DateTime exited, IReadOnlyList<AgentEvent> events, string phase)
    {
        bool Ours(AgentEvent e) => e["Phase"] == phase;
        var applying = events.FirstOrDefault(e => e.Template.StartsWith("Applying plan", StringComparison.Ordinal))?.Time;
        var running = events.FirstOrDefault(e => Ours(e) && e.Template.EndsWith("] running", StringComparison.Ordinal))?.Time;
        var pulling = events.FirstOrDefault(e => Ours(e) && e["Progress"].StartsWith("pulling ", StringComparison.Ordinal))?.Time;
        var pulled = events.LastOrDefault(e => Ours(e) && e["Progress"].StartsWith("pulled ", StringComparison.Ordinal))?.Time;
        var applied = events.FirstOrDefault(e => Ours(e) && e.Template.Contains("{Result}", StringComparison.Ordinal))?.Time;
        if (applying is null || running is null || pulling is null || applied is null) return null;
        // No image missing: nothing pulled, the "pulled" line never comes.
        pulled ??= pulling;
        return new AgentBreakdown(applying.Value - started, running.Value - applying.Value, pulling.Value - running.Value,
            pulled.Value - pulling.Value, applied.Value - pulled.Value, exited - applied.Value);
    }
}
