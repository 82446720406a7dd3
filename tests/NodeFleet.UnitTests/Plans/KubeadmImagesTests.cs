using NodeFleet.Plans;

namespace NodeFleet.Tests.Plans;

/// <summary>
/// Expected values are what `kubeadm config images list --kubernetes-version V` printed for each release (kubeadm's
/// CoreDNSVersion, PauseVersion and SupportedEtcdVersion at that release), as collected in minikube's
/// constants_kubeadm_images.go.
/// </summary>
public class KubeadmImagesTests
{
    [Theory]
    [InlineData("v1.28.0", "v1.10.1", "3.5.9-0", "3.9")]
    [InlineData("v1.28.5", "v1.10.1", "3.5.9-0", "3.9")]
    [InlineData("v1.28.6", "v1.10.1", "3.5.10-0", "3.9")]
    [InlineData("v1.28.8", "v1.10.1", "3.5.12-0", "3.9")]
    [InlineData("v1.28.15", "v1.10.1", "3.5.15-0", "3.9")]
    [InlineData("v1.29.0", "v1.11.1", "3.5.10-0", "3.9")]
    [InlineData("v1.29.3", "v1.11.1", "3.5.12-0", "3.9")]
    [InlineData("v1.29.10", "v1.11.1", "3.5.15-0", "3.9")]
    [InlineData("v1.29.11", "v1.11.1", "3.5.16-0", "3.9")]
    [InlineData("v1.30.0", "v1.11.1", "3.5.12-0", "3.9")]
    [InlineData("v1.30.4", "v1.11.1", "3.5.12-0", "3.9")]
    [InlineData("v1.30.5", "v1.11.3", "3.5.15-0", "3.9")]
    [InlineData("v1.30.14", "v1.11.3", "3.5.15-0", "3.9")]
    [InlineData("v1.31.0", "v1.11.1", "3.5.15-0", "3.10")]
    [InlineData("v1.31.2", "v1.11.3", "3.5.15-0", "3.10")]
    [InlineData("v1.31.13", "v1.11.3", "3.5.15-0", "3.10")]
    [InlineData("v1.31.14", "v1.11.3", "3.5.24-0", "3.10")]
    [InlineData("v1.32.0", "v1.11.3", "3.5.16-0", "3.10")]
    [InlineData("v1.32.9", "v1.11.3", "3.5.16-0", "3.10")]
    [InlineData("v1.32.10", "v1.11.3", "3.5.24-0", "3.10")]
    [InlineData("v1.33.0", "v1.12.0", "3.5.21-0", "3.10")]
    [InlineData("v1.33.5", "v1.12.0", "3.5.21-0", "3.10")]
    [InlineData("v1.33.6", "v1.12.0", "3.5.24-0", "3.10")]
    [InlineData("v1.33.99", "v1.12.0", "3.5.24-0", "3.10")]
    [InlineData("v1.31.0-rc.1", "v1.11.1", "3.5.15-0", "3.10")]
    [InlineData("v1.33.0-rc.0", "v1.12.0", "3.5.21-0", "3.10")]
    public void Versions_per_release(string version, string coreDns, string etcd, string pause)
    {
        var v = KubeadmImages.GetVersions(KubernetesRelease.Parse(version));
        Assert.Equal(new KubeadmImages.AddonVersions(coreDns, etcd, pause), v);
    }

    [Fact]
    public void Lists_what_kubeadm_prints_for_v1_31_2()
    {
        var images = KubeadmImages.List(KubernetesRelease.Parse("v1.31.2")).Select(i => i.ToString());
        Assert.Equal(
        [
            "registry.k8s.io/kube-apiserver:v1.31.2",
            "registry.k8s.io/kube-controller-manager:v1.31.2",
            "registry.k8s.io/kube-scheduler:v1.31.2",
            "registry.k8s.io/kube-proxy:v1.31.2",
            "registry.k8s.io/coredns/coredns:v1.11.3",
            "registry.k8s.io/pause:3.10",
            "registry.k8s.io/etcd:3.5.15-0",
        ], images);
    }

    [Fact]
    public void A_custom_image_repository_drops_the_coredns_sub_path()
    {
        var images = KubeadmImages.List(KubernetesRelease.Parse("v1.33.1"), "mirror.example:5000/k8s").Select(i => i.ToString());
        Assert.Equal(
        [
            "mirror.example:5000/k8s/kube-apiserver:v1.33.1",
            "mirror.example:5000/k8s/kube-controller-manager:v1.33.1",
            "mirror.example:5000/k8s/kube-scheduler:v1.33.1",
            "mirror.example:5000/k8s/kube-proxy:v1.33.1",
            "mirror.example:5000/k8s/coredns:v1.12.0",
            "mirror.example:5000/k8s/pause:3.10",
            "mirror.example:5000/k8s/etcd:3.5.21-0",
        ], images);
    }

    [Fact]
    public void The_default_repository_spelled_out_keeps_the_sub_path() =>
        Assert.Contains(KubeadmImages.List(KubernetesRelease.Parse("v1.31.2"), "registry.k8s.io"),
            i => i.ToString() == "registry.k8s.io/coredns/coredns:v1.11.3");

    [Theory]
    [InlineData("v1.27.16")]
    [InlineData("v1.34.0")]
    [InlineData("v2.31.0")]
    public void Unknown_releases_are_refused_naming_the_supported_range(string version)
    {
        Assert.False(KubeadmImages.TryGetVersions(KubernetesRelease.Parse(version), out _, out var error));
        Assert.Contains("v1.28 to v1.33", error);
        var e = Assert.Throws<ArgumentException>(() => KubeadmImages.List(KubernetesRelease.Parse(version)));
        Assert.Contains("v1.28 to v1.33", e.Message);
    }

    [Theory]
    [InlineData("v1.33.0-alpha.1")]
    [InlineData("v1.31.0-beta.0")]
    public void Alpha_and_beta_builds_are_refused(string version)
    {
        Assert.False(KubeadmImages.TryGetVersions(KubernetesRelease.Parse(version), out _, out var error));
        Assert.Contains("pre-release", error);
    }
}
