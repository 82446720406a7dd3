using System.CommandLine;
using System.Globalization;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;
using Duration = Google.Protobuf.WellKnownTypes.Duration;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// The gate flags of `rollout start`: --soak, --gate-prometheus with --gate-query, --blocking-pods and
/// --max-unavailable-per, checked here before anything is sent (the coordinator checks them again by the same rules).
/// </summary>
public sealed class GateOptions
{
    private readonly Option<string> _soak = new("--soak")
    {
        Description = "After each wave, every node of it must stay healthy (online, Ready in its cluster, its run still succeeded) this " +
            "long before the next wave, e.g. 5m; a node turning unhealthy pauses the rollout, naming it",
        HelpName = "DURATION",
    };
    private readonly Option<string> _prometheus = new("--gate-prometheus")
    {
        Description = "Prometheus address (http/https): after each wave, the next starts only while --gate-query returns no series; " +
            "a series pauses the rollout until it is gone; while Prometheus does not answer, the rollout holds",
        HelpName = "URL",
    };
    private readonly Option<string> _query = new("--gate-query")
    {
        Description = "The instant query of --gate-prometheus, e.g. 'ALERTS{alertstate=\"firing\",severity=\"critical\"}'",
        HelpName = "PROMQL",
    };
    private readonly Option<string> _blocking = new("--blocking-pods")
    {
        Description = "A label selector of pods, e.g. app=postgres: a node of a cluster running such a pod is held back (not failed) " +
            "until the pod is gone or `rollout skip` skips the node",
        HelpName = "SELECTOR",
    };
    private readonly Option<string[]> _per = new("--max-unavailable-per")
    {
        Description = "Most nodes in flight per value of a label, on top of --max-unavailable, e.g. topology.kubernetes.io/zone=1 (the " +
            "Kubernetes Node's label for a node in a cluster, else the node's own label); repeat or comma-join",
        HelpName = "KEY=N",
        AllowMultipleArgumentsPerToken = true,
    };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _soak, _prometheus, _query, _blocking, _per }) command.Options.Add(o);
    }

    /// <summary>Puts the gate flags into <paramref name="strategy"/>; a bad value throws a <see cref="CliException"/> naming the flag.</summary>
    public void Apply(ParseResult p, RolloutStrategy strategy)
    {
        if (p.GetValue(_soak) is { } soak) strategy.Soak = Duration.FromTimeSpan(CommandSetup.ParseDuration(soak, "--soak"));
        var prometheus = p.GetValue(_prometheus)?.Trim() ?? "";
        var query = p.GetValue(_query)?.Trim() ?? "";
        if (prometheus.Length > 0)
        {
            if (!Uri.TryCreate(prometheus, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new CliException($"--gate-prometheus '{prometheus}' must be an http:// or https:// address, e.g. http://prometheus:9090");
            if (query.Length == 0) throw new CliException("--gate-prometheus needs --gate-query, e.g. 'ALERTS{alertstate=\"firing\",severity=\"critical\"}'");
        }
        else if (query.Length > 0) throw new CliException("--gate-query needs --gate-prometheus (the address of Prometheus)");
        strategy.GatePrometheus = prometheus;
        strategy.GateQuery = query;
        var blocking = p.GetValue(_blocking)?.Trim() ?? "";
        if (blocking.Length > 0)
        {
            try { LabelSelector.Parse(blocking); }
            catch (FormatException e) { throw new CliException($"--blocking-pods '{blocking}': {e.Message}"); }
        }
        strategy.BlockingPods = blocking;
        foreach (var (key, limit) in PerLabel(p.GetValue(_per) ?? [])) strategy.MaxUnavailablePer[key] = limit;
    }

    /// <summary>"topology.kubernetes.io/zone=1" (repeated or comma-joined) → key and budget, each key once.</summary>
    public static IReadOnlyList<(string Key, int Limit)> PerLabel(IEnumerable<string> values)
    {
        var result = new List<(string, int)>();
        foreach (var item in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var eq = item.LastIndexOf('=');
            if (eq <= 0) throw new CliException($"--max-unavailable-per '{item}' must be KEY=N, e.g. topology.kubernetes.io/zone=1");
            var key = item[..eq].Trim();
            if (!int.TryParse(item[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit < 1)
                throw new CliException($"--max-unavailable-per '{item}': the budget must be a whole number, 1 or more");
            if (result.Any(r => r.Item1 == key)) throw new CliException($"--max-unavailable-per: key '{key}' given twice");
            result.Add((key, limit));
        }
        return result;
    }
}
