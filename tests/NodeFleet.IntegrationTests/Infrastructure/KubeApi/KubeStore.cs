using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>
/// The objects of the Kubernetes API test server, under one lock, each change bumping the one resourceVersion
/// counter as etcd's revision does; and the ordered record of every change.
/// </summary>
internal sealed partial class KubeStore
{
    public readonly Lock Gate = new();
    public readonly Dictionary<string, JsonObject> Nodes = new(StringComparer.Ordinal);
    public readonly Dictionary<(string Ns, string Name), JsonObject> Pods = new();
    public readonly Dictionary<(string Ns, string Name), JsonObject> Budgets = new();
    public readonly Dictionary<(string Ns, string Name), JsonObject> DaemonSets = new();
    public readonly Dictionary<(string Ns, string Name), TestReplicaSet> ReplicaSets = new();
    private readonly Dictionary<(string Ns, string Name), TimeSpan> _terminationDelays = new();
    private readonly List<KubeApiEvent> _record = [];
    private long _revision = 1000;
    private int _generated;

    public long Revision { get { lock (Gate) return _revision; } }

    public IReadOnlyList<KubeApiEvent> Record { get { lock (Gate) return _record.ToList(); } }

    /// <summary>Stamps a new or changed object with the next resourceVersion (caller holds the lock).</summary>
    public void Touch(JsonObject obj) => KubeJson.Meta(obj)["resourceVersion"] = (++_revision).ToString();

    public JsonObject NewMeta(string name, string? ns)
    {
        var meta = new JsonObject { ["name"] = name };
        if (ns is not null) meta["namespace"] = ns;
        meta["uid"] = Guid.NewGuid().ToString();
        meta["resourceVersion"] = (++_revision).ToString();
        meta["creationTimestamp"] = KubeJson.Time(DateTimeOffset.UtcNow);
        return meta;
    }

    /// <summary>Appends to the record with every budget's unavailable count as it stands (caller holds the lock).</summary>
    public void Log(string action, string target, string detail = "") =>
        _record.Add(new KubeApiEvent(_record.Count + 1, DateTimeOffset.UtcNow, action, target, detail,
            Budgets.Values.ToDictionary(b => $"{KubeJson.Namespace(b)}/{KubeJson.Name(b)}", b => Budget(b).Unavailable)));

    public JsonObject AddPod(TestPod p)
    {
        var meta = NewMeta(p.Name, p.Namespace);
        if (p.Labels.Count > 0) meta["labels"] = new JsonObject(p.Labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value)));
        if (p.Mirror)
            meta["annotations"] = new JsonObject { ["kubernetes.io/config.mirror"] = Guid.NewGuid().ToString("N"), ["kubernetes.io/config.source"] = "file" };
        if (p.Owner is { } owner)
            meta["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = owner.ApiVersion, ["kind"] = owner.Kind, ["name"] = owner.Name,
                ["uid"] = Guid.NewGuid().ToString(), ["controller"] = true, ["blockOwnerDeletion"] = true,
            });
        var volumes = new JsonArray();
        if (p.EmptyDir) volumes.Add(new JsonObject { ["name"] = "scratch", ["emptyDir"] = new JsonObject() });
        var now = KubeJson.Time(DateTimeOffset.UtcNow);
        var pod = new JsonObject
        {
            ["metadata"] = meta,
            ["spec"] = new JsonObject
            {
                ["volumes"] = volumes,
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "main", ["image"] = "registry.k8s.io/pause:3.9" }),
                ["restartPolicy"] = "Always",
                ["terminationGracePeriodSeconds"] = (long)p.TerminationGracePeriodSeconds,
                ["nodeName"] = p.NodeName,
                ["schedulerName"] = "default-scheduler",
            },
            ["status"] = new JsonObject
            {
                ["phase"] = "Running",
                ["conditions"] = new JsonArray(
                    new JsonObject { ["type"] = "Ready", ["status"] = p.Ready ? "True" : "False", ["lastProbeTime"] = null, ["lastTransitionTime"] = now },
                    new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastProbeTime"] = null, ["lastTransitionTime"] = now }),
                ["startTime"] = now,
            },
        };
        if (volumes.Count == 0) ((JsonObject)pod["spec"]!).Remove("volumes");
        Pods[(p.Namespace, p.Name)] = pod;
        _terminationDelays[(p.Namespace, p.Name)] = p.TerminationDelay;
        return pod;
    }

    public static bool IsReady(JsonObject pod) =>
        pod["status"]?["conditions"] is JsonArray c
        && c.OfType<JsonObject>().Any(x => (string?)x["type"] == "Ready" && (string?)x["status"] == "True");

    public static bool IsTerminating(JsonObject obj) => KubeJson.Meta(obj)["deletionTimestamp"] is not null;

    public static JsonObject? Controller(JsonObject pod) =>
        (KubeJson.Meta(pod)["ownerReferences"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(o => (bool?)o["controller"] == true);

    /// <summary>
    /// Deletes a pod as the API server and kubelet together do: at once for grace 0 or a pod with no termination
    /// delay; otherwise it is marked Terminating and removed when its delay (capped by the grace period) has run.
    /// </summary>
    public JsonObject DeletePod((string Ns, string Name) key, long? gracePeriodSeconds, string action, string detail)
    {
        var pod = Pods[key];
        var grace = gracePeriodSeconds ?? (long?)pod["spec"]?["terminationGracePeriodSeconds"] ?? 30;
        var delay = TimeSpan.FromSeconds(Math.Min(grace, _terminationDelays.GetValueOrDefault(key).TotalSeconds));
        if (IsTerminating(pod))
        {
            Log(action, $"pod/{key.Ns}/{key.Name}", detail + " (already terminating)");
            return KubeJson.Clone(pod);
        }
        if (delay <= TimeSpan.Zero)
        {
            Pods.Remove(key);
            Log(action, $"pod/{key.Ns}/{key.Name}", detail);
            Gone(pod, key);
            return KubeJson.Clone(pod);
        }
        var meta = KubeJson.Meta(pod);
        meta["deletionTimestamp"] = KubeJson.Time(DateTimeOffset.UtcNow.AddSeconds(grace));
        meta["deletionGracePeriodSeconds"] = grace;
        Touch(pod);
        Log(action, $"pod/{key.Ns}/{key.Name}", $"{detail} terminating for {delay.TotalSeconds:0.###}s");
        var uid = (string?)meta["uid"];
        _ = Task.Delay(delay).ContinueWith(_ =>
        {
            lock (Gate)
            {
                if (Pods.TryGetValue(key, out var still) && (string?)KubeJson.Meta(still)["uid"] == uid)
                {
                    Pods.Remove(key);
                    Log(KubeApiActions.PodGone, $"pod/{key.Ns}/{key.Name}");
                    Gone(still, key);
                }
            }
        }, TaskScheduler.Default);
        return KubeJson.Clone(pod);
    }

    // The ReplicaSet stand-in: a pod that is gone gets a replacement on another Ready, schedulable node.
    private void Gone(JsonObject pod, (string Ns, string Name) key)
    {
        _terminationDelays.Remove(key);
        if (Controller(pod) is not { } owner || (string?)owner["kind"] != "ReplicaSet") return;
        if (!ReplicaSets.TryGetValue((key.Ns, (string)owner["name"]!), out var rs) || !rs.Replace) return;
        var from = (string?)pod["spec"]?["nodeName"];
        var target = Nodes.Values.Where(n => KubeJson.Name(n) != from && NodeSchedulable(n))
            .OrderBy(n => Pods.Values.Count(p => (string?)p["spec"]?["nodeName"] == KubeJson.Name(n)))
            .ThenBy(KubeJson.Name, StringComparer.Ordinal).FirstOrDefault();
        if (target is null)
        {
            Log(KubeApiActions.PodCreated, $"replicaset/{rs.Namespace}/{rs.Name}", "no Ready schedulable node for a replacement");
            return;
        }
        var name = $"{rs.Name}-r{++_generated}";
        AddPod(new TestPod(rs.Namespace, name, KubeJson.Name(target))
        {
            Labels = rs.PodLabels, Owner = PodOwner.ReplicaSet(rs.Name), Ready = false, TerminationDelay = rs.PodTerminationDelay,
        });
        Log(KubeApiActions.PodCreated, $"pod/{rs.Namespace}/{name}", $"on node {KubeJson.Name(target)}");
        _ = Task.Delay(rs.ReadyAfter).ContinueWith(_ =>
        {
            lock (Gate)
            {
                if (!Pods.TryGetValue((rs.Namespace, name), out var created) || IsTerminating(created)) return;
                var ready = ((JsonArray)created["status"]!["conditions"]!).OfType<JsonObject>().First(c => (string?)c["type"] == "Ready");
                ready["status"] = "True";
                ready["lastTransitionTime"] = KubeJson.Time(DateTimeOffset.UtcNow);
                Touch(created);
                Log(KubeApiActions.PodReady, $"pod/{rs.Namespace}/{name}");
            }
        }, TaskScheduler.Default);
    }

    public static bool NodeSchedulable(JsonObject node) =>
        (bool?)node["spec"]?["unschedulable"] != true
        && node["status"]?["conditions"] is JsonArray c
        && c.OfType<JsonObject>().Any(x => (string?)x["type"] == "Ready" && (string?)x["status"] == "True");
}
