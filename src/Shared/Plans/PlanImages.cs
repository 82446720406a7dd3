using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>The images a plan pre-pulls: spec.images, or kubeadm's list for the version, plus the sandbox image.</summary>
public static class PlanImages
{
    /// <summary>
    /// spec.images when given, else what `kubeadm config images list` prints for spec.kubernetesVersion; then the
    /// sandbox (pause) image unless already listed. With registry.imageRepository set, every registry.k8s.io image
    /// moves under it as kubeadm moves its own (see <see cref="Rewrite"/>). Duplicates are dropped, order is kept.
    /// </summary>
    /// <exception cref="ArgumentException">the plan is not valid (an image does not parse, or kubeadm's list is
    /// needed for a version it is not known for); <see cref="PlanValidator"/> reports the same first.</exception>
    public static IReadOnlyList<ImageReference> Resolve(NodePlan plan)
    {
        var spec = plan.Spec ?? new NodePlanSpec();
        var repository = spec.Registry?.ImageRepository ?? "";
        var images = spec.Images.Count > 0
            ? spec.Images.Select(i => Rewrite(Parse(i, "spec.images"), repository))
            : KubeadmImages.List(Version(spec), repository);
        return images.Append(SandboxImage(plan)).Distinct().ToList();
    }

    /// <summary>
    /// The pod sandbox image the runtime is configured with: spec.runtime.sandboxImage, default kubeadm's pause
    /// image for the version (registry.k8s.io/pause:3.10 for v1.31), moved under registry.imageRepository if set.
    /// </summary>
    public static ImageReference SandboxImage(NodePlan plan)
    {
        var spec = plan.Spec ?? new NodePlanSpec();
        var repository = spec.Registry?.ImageRepository ?? "";
        var configured = spec.Runtime?.SandboxImage ?? "";
        var image = configured.Length > 0
            ? Parse(configured, "spec.runtime.sandboxImage")
            : KubeadmImages.PauseImage(Version(spec));
        return Rewrite(image, repository);
    }

    /// <summary>
    /// An image as kubeadm's imageRepository moves it: registry.k8s.io/X → R/X, and registry.k8s.io/coredns/coredns →
    /// R/coredns. Images of other registries, and any image when <paramref name="imageRepository"/> is empty or is
    /// registry.k8s.io itself, are unchanged.
    /// </summary>
    public static ImageReference Rewrite(ImageReference image, string? imageRepository)
    {
        if (string.IsNullOrEmpty(imageRepository) || imageRepository == KubeadmImages.DefaultRepository
            || image.Registry != KubeadmImages.DefaultRepository)
            return image;
        var path = image.Repository == "coredns/coredns" ? "coredns" : image.Repository;
        return image.WithName(imageRepository, path);
    }

    private static KubernetesRelease Version(NodePlanSpec spec) =>
        KubernetesRelease.TryParse(spec.KubernetesVersion, out var v)
            ? v
            : throw new ArgumentException($"spec.kubernetesVersion: {KubernetesRelease.FormatError(spec.KubernetesVersion)}");

    private static ImageReference Parse(string text, string path) =>
        ImageReference.TryParse(text, out var image, out var error) ? image : throw new ArgumentException($"{path}: {error}");
}
