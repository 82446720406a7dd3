using System.Net.Http.Json;
using System.Text.Json;

namespace NodeFleet.Coordinator.Rollouts.Gates;

/// <summary>
/// Asks Prometheus an instant query over its HTTP API (GET /api/v1/query) and returns the series of the answer, each
/// as its labels. Whatever keeps it from answering (refused, timed out, an error status, a body that is not an answer)
/// is an unreachable answer with the reason: the gate holds on it, it never passes.
/// </summary>
public sealed class PrometheusQuery(HttpClient http, TimeProvider time)
{
    /// <summary>Checks a gate's address: an absolute http or https URL; the message names the flag.</summary>
    public static Uri ParseAddress(string text)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            throw new FormatException($"gate-prometheus '{text}' must be an http:// or https:// address, e.g. http://prometheus:9090");
        return uri;
    }

    public async Task<PrometheusAnswer> AskAsync(string address, string query, CancellationToken ct)
    {
        var url = $"{address.TrimEnd('/')}/api/v1/query?query={Uri.EscapeDataString(query)}";
        try
        {
            using var response = await http.GetAsync(url, ct);
            JsonElement body;
            try { body = await response.Content.ReadFromJsonAsync<JsonElement>(ct); }
            catch (JsonException) { return Unreachable($"HTTP {(int)response.StatusCode}, not a Prometheus answer"); }
            if (!response.IsSuccessStatusCode || Text(body, "status") != "success")
                return Unreachable($"HTTP {(int)response.StatusCode}: {Text(body, "errorType")} {Text(body, "error")}".TrimEnd());
            try { return new PrometheusAnswer(time.GetUtcNow().UtcDateTime, Series(body)); }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException) { return Unreachable("not a Prometheus answer: no data.result"); }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return Unreachable(e is TaskCanceledException ? "no answer within the timeout" : e.Message);
        }
    }

    private PrometheusAnswer Unreachable(string why) => new(time.GetUtcNow().UtcDateTime, [], why);

    private static string Text(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    /// <summary>The answer's series as "{alertname="X", severity="critical"}" (a scalar or string answer: one series, its value).</summary>
    private static List<string> Series(JsonElement body)
    {
        var data = body.GetProperty("data");
        var result = data.GetProperty("result");
        var type = Text(data, "resultType");
        if (type is "scalar" or "string") return [$"{type} {result}"];
        return result.EnumerateArray().Select(s =>
        {
            var labels = s.TryGetProperty("metric", out var m) && m.ValueKind == JsonValueKind.Object
                ? m.EnumerateObject().Where(p => p.Name != "__name__").Select(p => $"{p.Name}=\"{p.Value.GetString()}\"")
                : [];
            var name = s.TryGetProperty("metric", out var mm) && mm.TryGetProperty("__name__", out var n) ? n.GetString() : "";
            return $"{name}{{{string.Join(", ", labels)}}}";
        }).ToList();
    }
}
