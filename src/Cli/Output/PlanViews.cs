using System.Text.Json.Nodes;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>How plans are shown: the validation summary and the image list document.</summary>
public static class PlanViews
{
    /// <summary>"plan upgrade-1.31 is valid (8 phases: preflight, stage-artifacts, ...)".</summary>
    public static string Valid(NodePlan plan)
    {
        var phases = PlanPhases.Selected(plan);
        return $"plan {plan.Metadata.Name} is valid ({phases.Count} phases: {string.Join(", ", phases)})";
    }

    /// <summary>{"images": ["registry.k8s.io/kube-apiserver:v1.31.2", ...]}, fully qualified, in pull order.</summary>
    public static JsonObject ImagesDocument(IEnumerable<ImageReference> images) =>
        new() { ["images"] = new JsonArray(images.Select(i => (JsonNode?)JsonValue.Create(i.ToString())).ToArray()) };
}
