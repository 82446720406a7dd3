using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>
/// Server-side printing (meta.k8s.io/v1 Table), which kubectl get asks for: the columns kube-apiserver prints for
/// nodes and pods; other resources get the default Name / Created At columns.
/// </summary>
internal static class KubeTables
{
    public static JsonObject Table(string resource, IEnumerable<JsonObject> items, string revision, bool includeObject)
    {
        var (columns, cells) = resource switch
        {
            "nodes" => (Columns(("Name", "name"), ("Status", ""), ("Roles", ""), ("Age", ""), ("Version", "")), (Func<JsonObject, JsonNode?[]>)NodeCells),
            "pods" => (Columns(("Name", "name"), ("Ready", ""), ("Status", ""), ("Restarts", ""), ("Age", "")), PodCells),
            _ => (Columns(("Name", "name"), ("Created At", "date")), o => [KubeJson.Name(o), (string?)KubeJson.Meta(o)["creationTimestamp"]]),
        };
        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = new JsonObject { ["resourceVersion"] = revision },
            ["columnDefinitions"] = columns,
            ["rows"] = new JsonArray(items.Select(o => (JsonNode?)new JsonObject
            {
                ["cells"] = new JsonArray(cells(o)),
                ["object"] = includeObject
                    ? KubeJson.Clone(o)
                    : new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = KubeJson.Meta(o).DeepClone() },
            }).ToArray()),
        };
    }

    private static JsonArray Columns(params (string Name, string Format)[] columns) =>
        new(columns.Select(c => (JsonNode?)new JsonObject
        {
            ["name"] = c.Name, ["type"] = c.Name == "Restarts" ? "integer" : "string", ["format"] = c.Format,
            ["description"] = c.Name, ["priority"] = 0,
        }).ToArray());

    private static JsonNode?[] NodeCells(JsonObject node)
    {
        var ready = (node["status"]?["conditions"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(c => (string?)c["type"] == "Ready");
        var status = (string?)ready?["status"] switch { "True" => "Ready", "False" => "NotReady", _ => "Unknown" };
        if ((bool?)node["spec"]?["unschedulable"] == true) status += ",SchedulingDisabled";
        var roles = KubeJson.Labels(node).Keys.Where(k => k.StartsWith("node-role.kubernetes.io/", StringComparison.Ordinal))
            .Select(k => k["node-role.kubernetes.io/".Length..]).Order(StringComparer.Ordinal).ToList();
        return [KubeJson.Name(node), status, roles.Count == 0 ? "<none>" : string.Join(',', roles), Age(node),
            (string?)node["status"]?["nodeInfo"]?["kubeletVersion"]];
    }

    private static JsonNode?[] PodCells(JsonObject pod)
    {
        var status = KubeStore.IsTerminating(pod) ? "Terminating" : (string?)pod["status"]?["phase"] ?? "Unknown";
        return [KubeJson.Name(pod), KubeStore.IsReady(pod) ? "1/1" : "0/1", status, 0, Age(pod)];
    }

    // kubectl's short human durations (45s, 5m3s, 12m, 4h).
    private static string Age(JsonObject obj)
    {
        var created = DateTimeOffset.Parse((string)KubeJson.Meta(obj)["creationTimestamp"]!, System.Globalization.CultureInfo.InvariantCulture);
        var d = DateTimeOffset.UtcNow - created;
        if (d < TimeSpan.FromMinutes(2)) return $"{Math.Max(0, (int)d.TotalSeconds)}s";
        if (d < TimeSpan.FromMinutes(10)) return d.Seconds == 0 ? $"{(int)d.TotalMinutes}m" : $"{(int)d.TotalMinutes}m{d.Seconds}s";
        if (d < TimeSpan.FromHours(3)) return $"{(int)d.TotalMinutes}m";
        return $"{(int)d.TotalHours}h";
    }
}
