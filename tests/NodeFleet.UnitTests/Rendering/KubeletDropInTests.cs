using NodeFleet.Rendering;

namespace NodeFleet.Tests.Rendering;

public class KubeletDropInTests
{
    private static KubeletDropInSettings Settings(string version = "v1.31.2", Dictionary<string, string>? extra = null) =>
        new(version, "unix:///run/containerd/containerd.sock", CgroupDriver.Systemd, extra ?? []);

    [Fact]
    public void Renders_endpoint_driver_then_extra_args_sorted_by_name()
    {
        var extra = new Dictionary<string, string>
        {
            ["node-labels"] = "role=worker,zone=a",
            ["max-pods"] = "110",
            ["--eviction-hard"] = "memory.available<5%",
            ["node-ip"] = "",
        };
        Golden.Matches("kubelet-20-nodefleet.conf", KubeletDropIn.Render(Settings(extra: extra)));
    }

    [Fact]
    public void Escapes_percent_signs_for_systemd()
    {
        var text = Utf8.Text(KubeletDropIn.Render(Settings(extra: new() { ["eviction-hard"] = "nodefs.available<10%" })));
        Assert.Contains("--eviction-hard=nodefs.available<10%%\"", text);
    }

    [Fact]
    public void Uses_the_cgroupfs_driver_when_asked()
    {
        var text = Utf8.Text(KubeletDropIn.Render(Settings() with { CgroupDriver = CgroupDriver.Cgroupfs }));
        Assert.Equal(
            "# Written by NodeFleet; changes are overwritten.\n[Service]\n" +
            "Environment=\"KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///run/containerd/containerd.sock --cgroup-driver=cgroupfs\"\n",
            text);
    }

    public static TheoryData<string, string, bool> Removals => new()
    {
        { "network-plugin", "v1.23.17", false },
        { "network-plugin", "v1.24.0", true },
        { "cni-bin-dir", "v1.30.1", true },
        { "docker-endpoint", "1.24", true },
        { "container-runtime", "v1.26.15", false },
        { "container-runtime", "v1.27.0", true },
        { "pod-infra-container-image", "v1.34.2", false },
        { "pod-infra-container-image", "v1.35.0", true },
        { "pod-infra-container-image", "v1.35.0-rc.1", true },
        { "max-pods", "v1.35.0", false },
    };

    [Theory]
    [MemberData(nameof(Removals))]
    public void Refuses_flags_removed_in_the_target_release(string flag, string version, bool removed)
    {
        Assert.Equal(removed, KubeletFlags.RemovedFor(flag, KubernetesVersion.Parse(version)) is not null);
        var settings = Settings(version, new() { [flag] = "x" });
        if (removed)
        {
            var e = Assert.Throws<RenderException>(() => KubeletDropIn.Render(settings));
            Assert.Contains($"--{flag} was removed in Kubernetes", e.Message);
        }
        else
        {
            Assert.Contains($" --{flag}=x\"", Utf8.Text(KubeletDropIn.Render(settings)));
        }
    }

    [Fact]
    public void The_removal_table_names_the_release_and_what_to_do()
    {
        var table = KubeletFlags.Removed.ToDictionary(r => r.Name);
        Assert.Equal(new KubernetesVersion(1, 24), table["network-plugin"].RemovedIn);
        Assert.Equal(new KubernetesVersion(1, 27), table["container-runtime"].RemovedIn);
        Assert.Equal(new KubernetesVersion(1, 35), table["pod-infra-container-image"].RemovedIn);
        Assert.All(KubeletFlags.Removed, r => Assert.False(string.IsNullOrWhiteSpace(r.Instead)));
        Assert.DoesNotContain("container-runtime-endpoint", table.Keys);
        Assert.DoesNotContain("cgroup-driver", table.Keys);
    }

    [Theory]
    [InlineData("container-runtime-endpoint")]
    [InlineData("--cgroup-driver")]
    public void Refuses_extra_args_that_nodefleet_sets_itself(string flag)
    {
        var e = Assert.Throws<RenderException>(() => KubeletDropIn.Render(Settings(extra: new() { [flag] = "x" })));
        Assert.Contains("set by NodeFleet", e.Message);
    }

    [Theory]
    [InlineData("max-pods", "110 --foo")]
    [InlineData("max-pods", "1\"10")]
    [InlineData("max-pods", "a\\b")]
    [InlineData("max-pods", "1\n10")]
    [InlineData("Max_Pods", "110")]
    [InlineData("max pods", "110")]
    public void Refuses_what_cannot_pass_through_systemd_safely(string name, string value) =>
        Assert.Throws<RenderException>(() => KubeletDropIn.Render(Settings(extra: new() { [name] = value })));

    [Fact]
    public void Refuses_a_flag_given_with_and_without_dashes() =>
        Assert.Throws<RenderException>(() => KubeletDropIn.Render(Settings(extra: new() { ["max-pods"] = "1", ["--max-pods"] = "2" })));

    [Theory]
    [InlineData("/run/containerd/containerd.sock")]
    [InlineData("tcp://10.0.0.1:1234")]
    public void Refuses_an_endpoint_that_is_not_a_unix_socket_url(string endpoint) =>
        Assert.Throws<RenderException>(() => KubeletDropIn.Render(Settings() with { ContainerRuntimeEndpoint = endpoint }));

    [Theory]
    [InlineData("v1.31.2", 1, 31)]
    [InlineData("1.31", 1, 31)]
    [InlineData("v1.35.0-rc.1", 1, 35)]
    [InlineData("v1.30.4+k3s1", 1, 30)]
    public void Parses_kubernetes_versions(string text, int major, int minor) =>
        Assert.Equal(new KubernetesVersion(major, minor), KubernetesVersion.Parse(text));

    [Theory]
    [InlineData("latest")]
    [InlineData("v1")]
    [InlineData("v1.x.0")]
    [InlineData("")]
    public void Refuses_what_is_not_a_kubernetes_version(string text)
    {
        var e = Assert.Throws<RenderException>(() => KubernetesVersion.Parse(text));
        Assert.Contains("v1.31.2", e.Message);
    }

    [Fact]
    public void Drop_in_path_is_a_plain_conf_file_under_the_kubelet_unit()
    {
        Assert.Equal("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf", KubeletDropIn.PathFor());
        Assert.Equal("/etc/systemd/system/kubelet.service.d/90-x.conf", KubeletDropIn.PathFor("90-x.conf"));
        Assert.Throws<RenderException>(() => KubeletDropIn.PathFor("../kubelet.conf"));
        Assert.Throws<RenderException>(() => KubeletDropIn.PathFor("20-nodefleet"));
    }
}
