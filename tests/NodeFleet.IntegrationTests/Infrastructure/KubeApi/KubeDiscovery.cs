using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>
/// The discovery documents (legacy, unaggregated form) for the resources the test server serves; a client that
/// asks for aggregated discovery gets these with Content-Type application/json and falls back, as with older servers.
/// </summary>
internal static class KubeDiscovery
{
    public static JsonObject Version(string version)
    {
        var parts = version.Split('.');
        return new JsonObject
        {
            ["major"] = parts[0], ["minor"] = parts[1], ["gitVersion"] = "v" + version,
            ["gitCommit"] = "0000000000000000000000000000000000000000", ["gitTreeState"] = "clean",
            ["buildDate"] = "2025-01-01T00:00:00Z", ["goVersion"] = "go1.24.0", ["compiler"] = "gc", ["platform"] = "linux/amd64",
        };
    }

    public static JsonObject CoreVersions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    public static JsonObject Groups() => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(Group("apps"), Group("policy"), Group("rbac.authorization.k8s.io")),
    };

    private static JsonObject Group(string name) => new()
    {
        ["name"] = name,
        ["versions"] = new JsonArray(new JsonObject { ["groupVersion"] = name + "/v1", ["version"] = "v1" }),
        ["preferredVersion"] = new JsonObject { ["groupVersion"] = name + "/v1", ["version"] = "v1" },
    };

    private static readonly string[] ReadWrite = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

    public static JsonObject? Resources(string groupVersion) => groupVersion switch
    {
        "v1" => List("v1",
            Resource("nodes", "node", false, "Node", ReadWrite, ["no"]),
            Resource("nodes/status", "", false, "Node", ["get", "patch", "update"]),
            Resource("pods", "pod", true, "Pod", ReadWrite, ["po"], categories: ["all"]),
            Resource("pods/eviction", "", true, "Eviction", ["create"], group: "policy", version: "v1"),
            Resource("pods/status", "", true, "Pod", ["get", "patch", "update"])),
        "apps/v1" => List("apps/v1",
            Resource("daemonsets", "daemonset", true, "DaemonSet", ReadWrite, ["ds"], categories: ["all"]),
            Resource("replicasets", "replicaset", true, "ReplicaSet", ReadWrite, ["rs"], categories: ["all"])),
        "policy/v1" => List("policy/v1",
            Resource("poddisruptionbudgets", "poddisruptionbudget", true, "PodDisruptionBudget", ReadWrite, ["pdb"]),
            Resource("poddisruptionbudgets/status", "", true, "PodDisruptionBudget", ["get", "patch", "update"])),
        // Discovery only (no objects served): enough for kubectl to map the ClusterRole file NodeFleet ships.
        "rbac.authorization.k8s.io/v1" => List("rbac.authorization.k8s.io/v1",
            Resource("clusterroles", "clusterrole", false, "ClusterRole", ReadWrite),
            Resource("clusterrolebindings", "clusterrolebinding", false, "ClusterRoleBinding", ReadWrite)),
        _ => null,
    };

    private static JsonObject List(string groupVersion, params JsonObject[] resources) => new()
    {
        ["kind"] = "APIResourceList",
        ["apiVersion"] = "v1",
        ["groupVersion"] = groupVersion,
        ["resources"] = new JsonArray(resources),
    };

    private static JsonObject Resource(string name, string singular, bool namespaced, string kind, string[] verbs,
        string[]? shortNames = null, string[]? categories = null, string? group = null, string? version = null)
    {
        var r = new JsonObject { ["name"] = name, ["singularName"] = singular, ["namespaced"] = namespaced };
        if (group is not null) { r["group"] = group; r["version"] = version; }
        r["kind"] = kind;
        r["verbs"] = new JsonArray(verbs.Select(v => (JsonNode?)v).ToArray());
        if (shortNames is not null) r["shortNames"] = new JsonArray(shortNames.Select(v => (JsonNode?)v).ToArray());
        if (categories is not null) r["categories"] = new JsonArray(categories.Select(v => (JsonNode?)v).ToArray());
        return r;
    }
}
