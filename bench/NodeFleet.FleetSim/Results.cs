using System.Globalization;
using System.Text;
using System.Text.Json;

namespace NodeFleet.FleetSim;

/// <summary>A measured figure, with its target when the issue sets one (Met null when it does not).</summary>
public sealed record Figure(string Scenario, string Name, double Value, string Unit, string Target = "", bool? Met = null)
{
    public string Text => Unit switch
    {
        "s" => $"{Value:0.00} s",
        "ms" => $"{Value:0.0} ms",
        "MiB" => $"{Value:0.0} MiB",
        "%" => $"{Value:0.00} %",
        "" => Value.ToString("0.##", CultureInfo.InvariantCulture),
        _ => $"{Value.ToString("0.##", CultureInfo.InvariantCulture)} {Unit}",
    };
}

/// <summary>A correctness check (never a timing): all online, rollout succeeded, nothing lost, nothing re-applied.</summary>
public sealed record Check(string Scenario, string Name, bool Ok, string Detail);

/// <summary>Collects figures and checks, prints them as they come, and writes them as Markdown and JSON at the end.</summary>
public sealed class Results(TextWriter output, Machine machine, string command)
{
    private readonly List<Figure> _figures = [];
    private readonly List<Check> _checks = [];
    private readonly List<(string Scenario, string Line)> _notes = [];

    public IReadOnlyList<Figure> Figures => _figures;
    public IReadOnlyList<Check> Checks => _checks;
    public bool AllChecksPassed => _checks.All(c => c.Ok);

    public void Add(Figure f)
    {
        lock (_figures) _figures.Add(f);
        var target = f.Target.Length == 0 ? "" : $"   (target {f.Target}: {(f.Met == true ? "met" : "MISSED")})";
        output.WriteLine($"  [{f.Scenario}] {f.Name}: {f.Text}{target}");
    }

    public void Figure(string scenario, string name, double value, string unit, string target = "", bool? met = null) =>
        Add(new Figure(scenario, name, value, unit, target, met));

    public bool Check(string scenario, string name, bool ok, string detail = "")
    {
        lock (_checks) _checks.Add(new Check(scenario, name, ok, detail));
        output.WriteLine($"  [{scenario}] check {name}: {(ok ? "ok" : "FAILED")}{(detail.Length > 0 ? $" ({detail})" : "")}");
        return ok;
    }

    public void Note(string scenario, string line)
    {
        lock (_notes) _notes.Add((scenario, line));
        output.WriteLine($"  [{scenario}] {line}");
    }

    public string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Machine: {machine.OneLine}");
        sb.AppendLine();
        sb.AppendLine($"Command: `{command}`");
        sb.AppendLine();
        sb.AppendLine("| scenario | figure | value | target |");
        sb.AppendLine("|---|---|---|---|");
        foreach (var f in _figures)
            sb.AppendLine($"| {f.Scenario} | {f.Name} | {f.Text} | {(f.Target.Length == 0 ? "" : $"{f.Target} ({(f.Met == true ? "met" : "**missed**")})")} |");
        sb.AppendLine();
        sb.AppendLine("| scenario | check | result |");
        sb.AppendLine("|---|---|---|");
        foreach (var c in _checks) sb.AppendLine($"| {c.Scenario} | {c.Name} | {(c.Ok ? "ok" : "**FAILED**")}{(c.Detail.Length > 0 ? $": {c.Detail}" : "")} |");
        if (_notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var (s, l) in _notes) sb.AppendLine($"- {s}: {l}");
        }
        return sb.ToString();
    }

    public string Json() => JsonSerializer.Serialize(new
    {
        machine,
        command,
        figures = _figures,
        checks = _checks,
        notes = _notes.Select(n => new { scenario = n.Scenario, line = n.Line }),
        allChecksPassed = AllChecksPassed,
    }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
}
