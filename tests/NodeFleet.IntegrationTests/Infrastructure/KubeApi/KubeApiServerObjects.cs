using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>The Kubernetes API test server's C# side: what a test puts in the cluster and reads back.</summary>
public sealed partial class KubeApiServer
{
    /// <summary>Adds a Node as a kubelet registers it: Ready (or not), with its kubelet version in nodeInfo.</summary>
    public void AddNode(string name, string kubeletVersion = "v1.31.4", bool ready = true, bool controlPlane = false,
        IReadOnlyDictionary<string, string>? labels = null)
    {
        lock (_store.Gate)
        {
            var meta = _store.NewMeta(name, null);
            var all = new JsonObject { ["kubernetes.io/arch"] = "amd64", ["kubernetes.io/hostname"] = name, ["kubernetes.io/os"] = "linux" };
            if (controlPlane) all["node-role.kubernetes.io/control-plane"] = "";
            foreach (var (k, v) in labels ?? new Dictionary<string, string>()) all[k] = v;
            meta["labels"] = all;
            var now = KubeJson.Time(DateTimeOffset.UtcNow);
            var address = 10 + _store.Nodes.Count;
            _store.Nodes[name] = new JsonObject
            {
                ["metadata"] = meta,
                ["spec"] = new JsonObject { ["podCIDR"] = $"10.244.{address}.0/24" },
                ["status"] = new JsonObject
                {
                    ["conditions"] = new JsonArray(
                        Condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
                        Condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
                        Condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
                        ReadyCondition(ready, now)),
                    ["addresses"] = new JsonArray(
                        new JsonObject { ["type"] = "InternalIP", ["address"] = $"10.0.0.{address}" },
                        new JsonObject { ["type"] = "Hostname", ["address"] = name }),
                    ["nodeInfo"] = new JsonObject
                    {
                        ["machineID"] = Guid.NewGuid().ToString("N"), ["systemUUID"] = Guid.NewGuid().ToString(),
                        ["bootID"] = Guid.NewGuid().ToString(), ["kernelVersion"] = "6.1.0-28-amd64",
                        ["osImage"] = "Debian GNU/Linux 12 (bookworm)", ["containerRuntimeVersion"] = "containerd://1.6.20",
                        ["kubeletVersion"] = kubeletVersion, ["kubeProxyVersion"] = kubeletVersion,
                        ["operatingSystem"] = "linux", ["architecture"] = "amd64",
                    },
                },
            };
        }
    }

    private static JsonObject Condition(string type, string status, string reason, string message, string now) => new()
    {
        ["type"] = type, ["status"] = status, ["lastHeartbeatTime"] = now, ["lastTransitionTime"] = now,
        ["reason"] = reason, ["message"] = message,
    };

    private static JsonObject ReadyCondition(bool ready, string now) => ready
        ? Condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now)
        : Condition("Ready", "False", "KubeletNotReady", "container runtime network not ready", now);

    /// <summary>Plays the kubelet reporting its Node Ready or not (recorded as node-changed).</summary>
    public void SetNodeReady(string name, bool ready) => ChangeNode(name, node =>
    {
        var conditions = (JsonArray)node["status"]!["conditions"]!;
        var at = conditions.Select((c, i) => (c, i)).First(x => (string?)x.c!["type"] == "Ready").i;
        conditions[at] = ReadyCondition(ready, KubeJson.Time(DateTimeOffset.UtcNow));
    }, $"Ready={ready}");

    /// <summary>Plays a restarted kubelet reporting a new version.</summary>
    public void SetKubeletVersion(string name, string kubeletVersion) => ChangeNode(name, node =>
    {
        node["status"]!["nodeInfo"]!["kubeletVersion"] = kubeletVersion;
        node["status"]!["nodeInfo"]!["kubeProxyVersion"] = kubeletVersion;
    }, $"kubeletVersion={kubeletVersion}");

    private void ChangeNode(string name, Action<JsonObject> change, string detail)
    {
        lock (_store.Gate)
        {
            var node = _store.Nodes[name];
            change(node);
            _store.Touch(node);
            _store.Log(KubeApiActions.NodeChanged, $"node/{name}", detail);
        }
    }

    /// <summary>A copy of the Node as the server holds it, or null.</summary>
    public JsonObject? Node(string name)
    {
        lock (_store.Gate) return _store.Nodes.TryGetValue(name, out var n) ? KubeJson.Clone(n) : null;
    }

    public bool IsUnschedulable(string name) => (bool?)Node(name)?["spec"]?["unschedulable"] == true;

    public void AddPod(TestPod pod)
    {
        lock (_store.Gate) _store.AddPod(pod);
    }

    /// <summary>A copy of the pod, or null once it is gone.</summary>
    public JsonObject? Pod(string ns, string name)
    {
        lock (_store.Gate) return _store.Pods.TryGetValue((ns, name), out var p) ? KubeJson.Clone(p) : null;
    }

    /// <summary>"namespace/name" of the pods bound to a node, Terminating ones included.</summary>
    public IReadOnlyList<string> PodsOn(string node)
    {
        lock (_store.Gate)
            return _store.Pods.Where(p => (string?)p.Value["spec"]?["nodeName"] == node)
                .Select(p => $"{p.Key.Ns}/{p.Key.Name}").Order(StringComparer.Ordinal).ToList();
    }

    public void AddDaemonSet(string ns, string name)
    {
        lock (_store.Gate)
            _store.DaemonSets[(ns, name)] = new JsonObject
            {
                ["metadata"] = _store.NewMeta(name, ns),
                ["spec"] = new JsonObject { ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } } },
                ["status"] = new JsonObject(),
            };
    }

    /// <summary>Adds a ReplicaSet and its pods, spread over the given nodes in turn.</summary>
    public void AddReplicaSet(TestReplicaSet rs, params string[] nodes)
    {
        lock (_store.Gate)
        {
            _store.ReplicaSets[(rs.Namespace, rs.Name)] = rs;
            _store.ReplicaSetObjects[(rs.Namespace, rs.Name)] = new JsonObject
            {
                ["metadata"] = _store.NewMeta(rs.Name, rs.Namespace),
                ["spec"] = new JsonObject
                {
                    ["replicas"] = rs.Replicas,
                    ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject(rs.PodLabels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))) },
                },
            };
            for (var i = 0; i < rs.Replicas && nodes.Length > 0; i++)
                _store.AddPod(new TestPod(rs.Namespace, $"{rs.Name}-{i}", nodes[i % nodes.Length])
                {
                    Labels = rs.PodLabels, Owner = PodOwner.ReplicaSet(rs.Name), TerminationDelay = rs.PodTerminationDelay,
                });
        }
    }

    /// <summary>
    /// Adds a policy/v1 PodDisruptionBudget selecting pods by matchLabels; minAvailable or maxUnavailable as an
    /// integer ("1") or a percent ("50%").
    /// </summary>
    public void AddPodDisruptionBudget(string ns, string name, IReadOnlyDictionary<string, string> matchLabels,
        string? minAvailable = null, string? maxUnavailable = null)
    {
        if ((minAvailable is null) == (maxUnavailable is null))
            throw new ArgumentException("a PodDisruptionBudget takes exactly one of minAvailable and maxUnavailable");
        static JsonNode IntOrPercent(string v) => v.EndsWith('%') ? JsonValue.Create(v) : JsonValue.Create(int.Parse(v, System.Globalization.CultureInfo.InvariantCulture));
        var spec = new JsonObject();
        if (minAvailable is not null) spec["minAvailable"] = IntOrPercent(minAvailable);
        if (maxUnavailable is not null) spec["maxUnavailable"] = IntOrPercent(maxUnavailable);
        spec["selector"] = new JsonObject { ["matchLabels"] = new JsonObject(matchLabels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))) };
        lock (_store.Gate)
        {
            var meta = _store.NewMeta(name, ns);
            meta["generation"] = 1;
            _store.Budgets[(ns, name)] = new JsonObject { ["metadata"] = meta, ["spec"] = spec };
        }
    }

    /// <summary>The budget's status as the disruption controller would report it now.</summary>
    public (int ExpectedPods, int CurrentHealthy, int DesiredHealthy, int DisruptionsAllowed) BudgetStatus(string ns, string name)
    {
        lock (_store.Gate)
        {
            var s = _store.Budget(_store.Budgets[(ns, name)]);
            return (s.ExpectedPods, s.CurrentHealthy, s.DesiredHealthy, s.DisruptionsAllowed);
        }
    }
}

/// <summary>The ReplicaSet objects as served (the test-side records are in <see cref="ReplicaSets"/>).</summary>
internal sealed partial class KubeStore
{
    public readonly Dictionary<(string Ns, string Name), JsonObject> ReplicaSetObjects = new();
}
