using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>JSON as kube-apiserver writes it: timestamps, Status bodies for errors, and the two merge patches.</summary>
internal static class KubeJson
{
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = false };

    /// <summary>RFC 3339 in whole seconds, UTC, as metav1.Time serialises.</summary>
    public static string Time(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static JsonObject Status(int code, string reason, string message, JsonObject? details = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = code < 300 ? "Success" : "Failure",
        };
        if (code >= 300)
        {
            status["message"] = message;
            status["reason"] = reason;
            if (details is not null) status["details"] = details;
        }
        status["code"] = code;
        return status;
    }

    public static JsonObject NotFound(string resource, string name) =>
        Status(404, "NotFound", $"{resource} \"{name}\" not found",
            new JsonObject { ["name"] = name, ["kind"] = resource });

    public static JsonObject Meta(JsonObject obj) => (JsonObject)obj["metadata"]!;

    public static string Name(JsonObject obj) => (string)Meta(obj)["name"]!;

    public static string? Namespace(JsonObject obj) => (string?)Meta(obj)["namespace"];

    public static IReadOnlyDictionary<string, string> Labels(JsonObject obj) =>
        Meta(obj)["labels"] is JsonObject l
            ? l.ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "")
            : new Dictionary<string, string>();

    public static JsonObject Clone(JsonObject obj) => (JsonObject)obj.DeepClone();

    /// <summary>JSON merge patch (RFC 7386): objects merge key by key, null removes, anything else replaces.</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch, bool strategic, string? key = null)
    {
        if (patch is not JsonObject p) return patch?.DeepClone();
        var result = target is JsonObject t ? (JsonObject)t.DeepClone() : new JsonObject();
        foreach (var (k, v) in p)
        {
            if (strategic && k.StartsWith('$'))
                throw new NotSupportedException($"strategic merge patch directive {k} is not implemented by the Kubernetes API test server");
            if (v is null) { result.Remove(k); continue; }
            if (strategic && v is JsonArray list && MergeKeys.TryGetValue(k, out var mergeKey) && result[k] is JsonArray current)
            {
                result[k] = MergeList(current, list, mergeKey);
                continue;
            }
            result[k] = MergePatch(result[k], v, strategic, k);
        }
        return result;
    }

    // The lists of the Node and Pod types that carry a patchMergeKey in k8s.io/api; other lists are replaced whole.
    private static readonly Dictionary<string, string> MergeKeys = new()
    {
        ["conditions"] = "type",
        ["addresses"] = "type",
        ["ownerReferences"] = "uid",
    };

    private static JsonArray MergeList(JsonArray current, JsonArray patch, string mergeKey)
    {
        var merged = current.Select(n => n?.DeepClone()).ToList();
        foreach (var item in patch)
        {
            if (item is not JsonObject o || (string?)o[mergeKey] is not { } id) { merged.Add(item?.DeepClone()); continue; }
            if (o["$patch"] is JsonNode d && (string?)d == "delete")
            {
                merged.RemoveAll(m => m is JsonObject mo && (string?)mo[mergeKey] == id);
                continue;
            }
            var at = merged.FindIndex(m => m is JsonObject mo && (string?)mo[mergeKey] == id);
            if (at < 0) merged.Add(o.DeepClone());
            else merged[at] = MergePatch(merged[at], o, strategic: true);
        }
        return new JsonArray(merged.ToArray());
    }
}
