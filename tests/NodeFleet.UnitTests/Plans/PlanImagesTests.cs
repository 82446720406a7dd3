using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Plans;

public class PlanImagesTests
{
    private static NodePlan Plan(string version = "v1.31.2", string? repository = null, string? sandbox = null, params string[] images)
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.KubernetesVersion = version;
        if (repository is not null) plan.Spec.Registry = new RegistrySpec { ImageRepository = repository };
        if (sandbox is not null) plan.Spec.Runtime.SandboxImage = sandbox;
        plan.Spec.Images.AddRange(images);
        return plan;
    }

    private static List<string> Resolve(NodePlan plan) => PlanImages.Resolve(plan).Select(i => i.ToString()).ToList();

    [Fact]
    public void Without_images_the_kubeadm_list_is_used_and_its_pause_is_the_sandbox() =>
        Assert.Equal(
        [
            "registry.k8s.io/kube-apiserver:v1.31.2",
            "registry.k8s.io/kube-controller-manager:v1.31.2",
            "registry.k8s.io/kube-scheduler:v1.31.2",
            "registry.k8s.io/kube-proxy:v1.31.2",
            "registry.k8s.io/coredns/coredns:v1.11.3",
            "registry.k8s.io/pause:3.10",
            "registry.k8s.io/etcd:3.5.15-0",
        ], Resolve(Plan()));

    [Fact]
    public void With_an_image_repository_everything_moves_as_kubeadm_moves_it() =>
        Assert.Equal(
        [
            "mirror.example:5000/k8s/kube-apiserver:v1.31.2",
            "mirror.example:5000/k8s/kube-controller-manager:v1.31.2",
            "mirror.example:5000/k8s/kube-scheduler:v1.31.2",
            "mirror.example:5000/k8s/kube-proxy:v1.31.2",
            "mirror.example:5000/k8s/coredns:v1.11.3",
            "mirror.example:5000/k8s/pause:3.10",
            "mirror.example:5000/k8s/etcd:3.5.15-0",
        ], Resolve(Plan(repository: "mirror.example:5000/k8s", sandbox: "registry.k8s.io/pause:3.10")));

    [Fact]
    public void Explicit_images_replace_the_kubeadm_list_and_the_sandbox_is_added()
    {
        Assert.Equal(
            ["docker.io/library/nginx:1.25", "registry.k8s.io/kube-proxy:v1.31.2", "registry.k8s.io/pause:3.10"],
            Resolve(Plan(images: ["nginx:1.25", "registry.k8s.io/kube-proxy:v1.31.2"])));
        Assert.Equal(
            ["quay.io/x/pause:1", "registry.k8s.io/kube-proxy:v1.31.2"],
            Resolve(Plan(sandbox: "quay.io/x/pause:1", images: ["quay.io/x/pause:1", "registry.k8s.io/kube-proxy:v1.31.2"])));
    }

    [Fact]
    public void Explicit_registry_k8s_io_images_move_under_the_image_repository_other_registries_do_not() =>
        Assert.Equal(
        [
            "m.example/k8s/coredns:v1.12.0",
            "m.example/k8s/sig-storage/csi-provisioner:v5.0.1",
            "docker.io/library/nginx:latest",
            "m.example/k8s/pause:3.10",
        ], Resolve(Plan(repository: "m.example/k8s",
            images: ["registry.k8s.io/coredns/coredns:v1.12.0", "registry.k8s.io/sig-storage/csi-provisioner:v5.0.1", "nginx", "nginx:latest"])));

    [Fact]
    public void The_sandbox_image_defaults_to_the_pause_of_the_release()
    {
        Assert.Equal("registry.k8s.io/pause:3.9", PlanImages.SandboxImage(Plan("v1.30.6")).ToString());
        Assert.Equal("registry.k8s.io/pause:3.10", PlanImages.SandboxImage(Plan("v1.33.0")).ToString());
        Assert.Equal("r.example/pause:3.9", PlanImages.SandboxImage(Plan("v1.29.1", repository: "r.example")).ToString());
    }

    [Fact]
    public void Derived_lists_for_an_unknown_release_fail_naming_the_range()
    {
        var e = Assert.Throws<ArgumentException>(() => PlanImages.Resolve(Plan("v1.27.3")));
        Assert.Contains("v1.28 to v1.33", e.Message);
    }

    [Fact]
    public void The_full_sample_plan_pulls_from_its_mirror()
    {
        var plan = PlanTestData.Load("valid-full.yaml").Plan!;
        Assert.Equal("mirror.example:5000/k8s/coredns:v1.11.3", Resolve(plan)[4]);
        Assert.Equal(7, Resolve(plan).Count);
    }
}
