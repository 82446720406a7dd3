using k8s.Models;

namespace NodeFleet.Coordinator.Clusters;

/// <summary>
/// Which pods of a node a drain removes, as kubectl drain decides: DaemonSet pods and mirror (static) pods stay;
/// a pod no controller owns is refused unless force; a pod with emptyDir data is refused unless deleteEmptyDirData.
/// Pods already terminating are waited for and never refused (they are going anyway).
/// </summary>
internal static class DrainSelection
{
    private const string MirrorAnnotation = "kubernetes.io/config.mirror";

    public sealed record Selection(IReadOnlyList<V1Pod> ToRemove, IReadOnlyList<PodReason> Skipped, IReadOnlyList<PodReason> Refused);

    public static PodRef Ref(V1Pod pod) => new(pod.Metadata.NamespaceProperty ?? "", pod.Metadata.Name ?? "", pod.Metadata.Uid ?? "");

    public static bool Terminating(V1Pod pod) => pod.Metadata.DeletionTimestamp is not null;

    public static Selection Select(IEnumerable<V1Pod> pods, DrainSpec spec)
    {
        List<V1Pod> remove = [];
        List<PodReason> skipped = [], refused = [];
        foreach (var pod in pods)
        {
            var controller = pod.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true);
            if (pod.Metadata.Annotations?.ContainsKey(MirrorAnnotation) == true)
                skipped.Add(new(Ref(pod), "mirror pod of a static pod"));
            else if (controller?.Kind == "DaemonSet")
                skipped.Add(new(Ref(pod), $"DaemonSet-managed ({controller.Name})"));
            else if (Terminating(pod) || pod.Status?.Phase is "Succeeded" or "Failed")
                remove.Add(pod);
            else if (controller is null && !spec.Force)
                refused.Add(new(Ref(pod), "no controller owns it (it would not be recreated): set force: true to evict it"));
            else if (pod.Spec?.Volumes?.Any(v => v.EmptyDir is not null) == true && !spec.DeleteEmptyDirData)
                refused.Add(new(Ref(pod), "it has emptyDir data, lost on eviction: set deleteEmptyDirData: true"));
            else
                remove.Add(pod);
        }
        return new Selection(remove, skipped, refused);
    }
}
