using System.Net;
using System.Text.Json;
using k8s.Autorest;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>Reads the API server's answers to failed calls: status codes and the Status body kube-apiserver sends.</summary>
internal static class KubeErrors
{
    public static HttpStatusCode? Code(Exception e) => (e as HttpOperationException)?.Response?.StatusCode;

    public static bool IsNotFound(Exception e) => Code(e) == HttpStatusCode.NotFound;

    public static bool IsTooManyRequests(Exception e) => Code(e) == HttpStatusCode.TooManyRequests;

    /// <summary>A one-line reason for a failed call, from the Status body's message when there is one.</summary>
    public static string Describe(Exception e)
    {
        if (e is HttpOperationException h)
        {
            var status = ReadStatus(h.Response?.Content);
            var message = status?.Message ?? h.Response?.ReasonPhrase ?? h.Message;
            return $"{(int?)h.Response?.StatusCode} {message}";
        }
        // Transport errors name the address and the cause (refused, TLS, timeout), never request headers.
        return e is TaskCanceledException ? "the API server did not answer in time" : e.GetBaseException().Message;
    }

    /// <summary>The fields of a meta/v1 Status body that a caller shows: message and details.causes.</summary>
    public sealed record StatusBody(string? Message, IReadOnlyList<(string? Reason, string? Message)> Causes);

    public static StatusBody? ReadStatus(string? json)
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            var message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            var causes = new List<(string?, string?)>();
            if (root.TryGetProperty("details", out var d) && d.ValueKind == JsonValueKind.Object
                && d.TryGetProperty("causes", out var cs) && cs.ValueKind == JsonValueKind.Array)
                foreach (var c in cs.EnumerateArray())
                    causes.Add((Str(c, "reason"), Str(c, "message")));
            return new StatusBody(message, causes);
        }
        catch (JsonException)
        {
            return null;
        }

        static string? Str(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }
}
