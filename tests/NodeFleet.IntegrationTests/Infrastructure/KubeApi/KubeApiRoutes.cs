using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>The REST paths of the Kubernetes API test server and what each verb does on them.</summary>
public sealed partial class KubeApiServer
{
    private static readonly Dictionary<string, (string Kind, string ApiVersion)> Kinds = new()
    {
        ["nodes"] = ("Node", "v1"),
        ["pods"] = ("Pod", "v1"),
        ["poddisruptionbudgets"] = ("PodDisruptionBudget", "policy/v1"),
        ["daemonsets"] = ("DaemonSet", "apps/v1"),
        ["replicasets"] = ("ReplicaSet", "apps/v1"),
    };

    private static readonly JsonObject PathNotFound =
        KubeJson.Status(404, "NotFound", "the server could not find the requested resource", new JsonObject());

    private async Task<(int, JsonObject)> RouteAsync(HttpContext context)
    {
        var request = context.Request;
        var s = request.Path.Value!.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var get = HttpMethods.IsGet(request.Method);
        switch (s)
        {
            case ["version"] when get: return (200, KubeDiscovery.Version(Version));
            case ["api"] when get: return (200, KubeDiscovery.CoreVersions(new Uri(Url).Authority));
            case ["apis"] when get: return (200, KubeDiscovery.Groups());
            case ["api", "v1"] when get: return (200, KubeDiscovery.Resources("v1")!);
            case ["apis", var g, var v] when get:
                return KubeDiscovery.Resources($"{g}/{v}") is { } list ? (200, list) : (404, PathNotFound);
        }
        string groupVersion;
        string[] rest;
        if (s is ["api", "v1", .. var r1]) (groupVersion, rest) = ("v1", r1);
        else if (s is ["apis", var g, var v, .. var r2]) (groupVersion, rest) = ($"{g}/{v}", r2);
        else return (404, PathNotFound);
        string? ns = null;
        if (rest is ["namespaces", var n, _, ..]) (ns, rest) = (n, rest[2..]);
        if (rest.Length is 0 or > 3 || !Kinds.TryGetValue(rest[0], out var kind) || kind.ApiVersion != groupVersion)
            return (404, PathNotFound);
        var resource = rest[0];
        if (ns is null && resource != "nodes" && rest.Length > 1) return (404, PathNotFound);
        if (ns is not null && resource == "nodes") return (404, PathNotFound);
        try
        {
            return (rest, request.Method) switch
            {
                ([_], "GET") => List(request, resource, ns),
                ([_, var name], "GET") => Get(request, resource, ns, name),
                (["nodes", var name], "PATCH") => await PatchNodeAsync(request, name, status: false),
                (["nodes", var name, "status"], "PATCH") => await PatchNodeAsync(request, name, status: true),
                (["nodes", var name, "status"], "GET") => Get(request, resource, null, name),
                (["pods", var name], "DELETE") => await DeletePodAsync(request, ns!, name),
                (["pods", var name, "eviction"], "POST") => _store.Evict(ns!, name, await ReadJsonAsync(request) as JsonObject),
                _ => (405, KubeJson.Status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")),
            };
        }
        catch (Exception e) when (e is FormatException or JsonException or NotSupportedException or InvalidOperationException)
        {
            return (400, KubeJson.Status(400, "BadRequest", e.Message));
        }
    }

    private static async Task<JsonNode?> ReadJsonAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        var text = await reader.ReadToEndAsync();
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    private IEnumerable<JsonObject> Objects(string resource, string? ns) => (resource switch
    {
        "nodes" => _store.Nodes.Values,
        "pods" => _store.Pods.Values,
        "poddisruptionbudgets" => _store.Budgets.Values.Select(WithBudgetStatus),
        "daemonsets" => _store.DaemonSets.Values,
        "replicasets" => _store.ReplicaSetObjects.Values,
        _ => [],
    }).Where(o => ns is null || KubeJson.Namespace(o) == ns)
      .OrderBy(o => KubeJson.Namespace(o), StringComparer.Ordinal).ThenBy(KubeJson.Name, StringComparer.Ordinal);

    private JsonObject WithBudgetStatus(JsonObject budget)
    {
        var s = _store.Budget(budget);
        var copy = KubeJson.Clone(budget);
        copy["status"] = new JsonObject
        {
            ["observedGeneration"] = 1, ["disruptionsAllowed"] = s.DisruptionsAllowed, ["currentHealthy"] = s.CurrentHealthy,
            ["desiredHealthy"] = s.DesiredHealthy, ["expectedPods"] = s.ExpectedPods,
        };
        return copy;
    }

    private (int, JsonObject) List(HttpRequest request, string resource, string? ns)
    {
        if (request.Query["watch"] is ["true" or "1"])
            return (405, KubeJson.Status(405, "MethodNotAllowed", "watch is not served by the Kubernetes API test server"));
        var labels = KubeSelectors.ParseLabels(request.Query["labelSelector"]);
        var fields = KubeSelectors.ParseFields(request.Query["fieldSelector"], resource);
        lock (_store.Gate)
        {
            var items = Objects(resource, ns).Where(o => labels.Matches(KubeJson.Labels(o)) && fields(o)).Select(KubeJson.Clone).ToList();
            var revision = _store.Revision.ToString();
            if (WantsTable(request)) return (200, KubeTables.Table(resource, items, revision, IncludeObject(request)));
            var (kind, apiVersion) = Kinds[resource];
            return (200, new JsonObject
            {
                ["kind"] = kind + "List",
                ["apiVersion"] = apiVersion,
                ["metadata"] = new JsonObject { ["resourceVersion"] = revision },
                ["items"] = new JsonArray(items.Select(i => (JsonNode?)i).ToArray()),
            });
        }
    }

    private (int, JsonObject) Get(HttpRequest request, string resource, string? ns, string name)
    {
        lock (_store.Gate)
        {
            var found = Objects(resource, ns).FirstOrDefault(o => KubeJson.Name(o) == name);
            if (found is null) return (404, KubeJson.NotFound(resource, name));
            if (WantsTable(request)) return (200, KubeTables.Table(resource, [found], _store.Revision.ToString(), IncludeObject(request)));
            return (200, Typed(resource, found));
        }
    }

    private static JsonObject Typed(string resource, JsonObject obj)
    {
        var (kind, apiVersion) = Kinds[resource];
        var typed = new JsonObject { ["kind"] = kind, ["apiVersion"] = apiVersion };
        foreach (var (k, v) in obj) typed[k] = v?.DeepClone();
        return typed;
    }

    private static bool WantsTable(HttpRequest request) =>
        request.Headers.Accept.ToString().Contains("as=Table", StringComparison.Ordinal);

    private static bool IncludeObject(HttpRequest request) => request.Query["includeObject"] is ["Object"];

    private async Task<(int, JsonObject)> PatchNodeAsync(HttpRequest request, string name, bool status)
    {
        var contentType = request.ContentType?.Split(';')[0].Trim();
        var strategic = contentType == "application/strategic-merge-patch+json";
        if (!strategic && contentType != "application/merge-patch+json")
            return (415, KubeJson.Status(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (the Kubernetes API test server serves no {contentType})"));
        var patch = await ReadJsonAsync(request) as JsonObject
            ?? throw new FormatException("the patch body must be a JSON object");
        lock (_store.Gate)
        {
            if (!_store.Nodes.TryGetValue(name, out var node)) return (404, KubeJson.NotFound("nodes", name));
            var wanted = (string?)patch["metadata"]?["resourceVersion"];
            if (wanted is not null && wanted != (string?)KubeJson.Meta(node)["resourceVersion"])
                return (409, KubeJson.Status(409, "Conflict",
                    $"Operation cannot be fulfilled on nodes \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    new JsonObject { ["name"] = name, ["kind"] = "nodes" }));
            var patched = (JsonObject)KubeJson.MergePatch(node, patch, strategic)!;
            // The main resource ignores status and the status subresource ignores spec, as kube-apiserver does;
            // identity and bookkeeping fields are the server's.
            var keep = status ? "spec" : "status";
            patched[keep] = node[keep]?.DeepClone();
            var meta = KubeJson.Meta(patched);
            foreach (var field in new[] { "name", "uid", "creationTimestamp", "resourceVersion" })
                meta[field] = KubeJson.Meta(node)[field]?.DeepClone();
            if (status) patched["metadata"] = KubeJson.Meta(node).DeepClone();
            var changed = !JsonNode.DeepEquals(patched, node);
            if (changed)
            {
                _store.Touch(patched);
                _store.Nodes[name] = patched;
            }
            _store.Log(status ? KubeApiActions.PatchNodeStatus : KubeApiActions.PatchNode, $"node/{name}",
                $"{(strategic ? "strategic-merge-patch" : "merge-patch")} {patch.ToJsonString()}{(changed ? "" : " (no change)")}");
            return (200, Typed("nodes", patched));
        }
    }

    private async Task<(int, JsonObject)> DeletePodAsync(HttpRequest request, string ns, string name)
    {
        var options = await ReadJsonAsync(request) as JsonObject;
        long? grace = (long?)options?["gracePeriodSeconds"];
        if (request.Query["gracePeriodSeconds"] is [var q]) grace = long.Parse(q!, System.Globalization.CultureInfo.InvariantCulture);
        lock (_store.Gate)
        {
            if (!_store.Pods.ContainsKey((ns, name))) return (404, KubeJson.NotFound("pods", name));
            var pod = _store.DeletePod((ns, name), grace, KubeApiActions.DeletePod, grace is { } g ? $"gracePeriodSeconds={g}" : "");
            return (200, Typed("pods", pod));
        }
    }
}
