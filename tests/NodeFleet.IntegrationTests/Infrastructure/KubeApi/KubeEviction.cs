using System.Text.Json.Nodes;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>A PodDisruptionBudget's status as the disruption controller would write it, computed live.</summary>
internal sealed record BudgetStatus(int ExpectedPods, int CurrentHealthy, int DesiredHealthy, int DisruptionsAllowed, int Unavailable);

/// <summary>policy/v1 Eviction with PodDisruptionBudget semantics, as the pods/eviction subresource answers.</summary>
internal sealed partial class KubeStore
{
    public IEnumerable<JsonObject> PodsMatching(JsonObject budget)
    {
        var ns = KubeJson.Namespace(budget);
        var selector = KubeSelectors.FromObject(budget["spec"]?["selector"] as JsonObject);
        // An empty selector in policy/v1 selects every pod of the namespace; a missing one selects none.
        if (budget["spec"]?["selector"] is null) return [];
        return Pods.Values.Where(p => KubeJson.Namespace(p) == ns && selector.Matches(KubeJson.Labels(p)));
    }

    public BudgetStatus Budget(JsonObject budget)
    {
        var pods = PodsMatching(budget).ToList();
        var healthy = pods.Count(p => IsReady(p) && !IsTerminating(p));
        // The expected count comes from the owning controllers' replicas (the scale subresource), as the
        // disruption controller reads it; a pod whose controller is not known here counts for itself.
        var byControllers = pods.GroupBy(p => Controller(p) is { } o && (string?)o["kind"] == "ReplicaSet"
                && ReplicaSets.TryGetValue((KubeJson.Namespace(p)!, (string)o["name"]!), out var rs) ? rs : null)
            .Sum(g => g.Key?.Replicas ?? g.Count());
        var spec = budget["spec"]!;
        int expected, desired;
        if (spec["minAvailable"] is JsonNode min && !IsPercent(min, out _))
        {
            expected = pods.Count;
            desired = (int)min;
        }
        else if (spec["minAvailable"] is JsonNode minP && IsPercent(minP, out var minPercent))
        {
            expected = byControllers;
            desired = (int)Math.Ceiling(expected * minPercent / 100.0);
        }
        else if (spec["maxUnavailable"] is JsonNode max)
        {
            expected = byControllers;
            var allowed = IsPercent(max, out var maxPercent) ? (int)Math.Ceiling(expected * maxPercent / 100.0) : (int)max;
            desired = Math.Max(0, expected - allowed);
        }
        else
        {
            expected = pods.Count;
            desired = 0;
        }
        return new BudgetStatus(expected, healthy, desired, Math.Max(0, healthy - desired), Math.Max(0, byControllers - healthy));
    }

    private static bool IsPercent(JsonNode value, out int percent)
    {
        percent = 0;
        if (value.GetValueKind() != System.Text.Json.JsonValueKind.String) return false;
        var s = (string)value!;
        return s.EndsWith('%') && int.TryParse(s[..^1], out percent);
    }

    /// <summary>Answers POST pods/NAME/eviction: (HTTP code, body).</summary>
    public (int Code, JsonObject Body) Evict(string ns, string name, JsonObject? eviction)
    {
        var key = (ns, name);
        if (eviction is not null && (string?)eviction["metadata"]?["name"] is { } bodyName && bodyName != name)
            return (400, KubeJson.Status(400, "BadRequest", "name in URL does not match name in Eviction object"));
        var grace = (long?)eviction?["deleteOptions"]?["gracePeriodSeconds"];
        var dryRun = eviction?["deleteOptions"]?["dryRun"] is JsonArray { Count: > 0 };
        lock (Gate)
        {
            if (!Pods.TryGetValue(key, out var pod)) return (404, KubeJson.NotFound("pods", name));
            var target = $"pod/{ns}/{name}";
            var phase = (string?)pod["status"]?["phase"];
            // Pods that do not count toward any budget are deleted without looking at one.
            if (IsTerminating(pod) || phase is "Succeeded" or "Failed" or "Pending")
                return Delete("no budget applies: the pod is " + (IsTerminating(pod) ? "terminating" : phase));
            var budgets = Budgets.Values.Where(b => PodsMatching(b).Contains(pod)).ToList();
            if (budgets.Count > 1)
                return (500, KubeJson.Status(500, "InternalError",
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."));
            if (budgets.Count == 0) return Delete("no budget");
            var budget = budgets[0];
            var budgetName = KubeJson.Name(budget);
            var status = Budget(budget);
            // An unready pod may go while the budget is met (the default unhealthyPodEvictionPolicy, IfHealthyBudget).
            if (!IsReady(pod) && status.CurrentHealthy >= status.DesiredHealthy && status.DesiredHealthy > 0)
                return Delete($"budget {budgetName}: the pod is not Ready and the budget is met");
            if (status.DisruptionsAllowed <= 0)
            {
                var message = $"The disruption budget {budgetName} needs {status.DesiredHealthy} healthy pods and has {status.CurrentHealthy} currently";
                Log(KubeApiActions.EvictionRefused, target, $"budget {budgetName}: {message}");
                return (429, KubeJson.Status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                    new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["reason"] = "DisruptionBudget", ["message"] = message }) }));
            }
            return Delete($"budget {budgetName}: {status.DisruptionsAllowed} disruption(s) allowed");

            (int, JsonObject) Delete(string why)
            {
                if (!dryRun) DeletePod(key, grace, KubeApiActions.Evicted, why);
                return (201, KubeJson.Status(201, "", ""));
            }
        }
    }
}
