using System.Text;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>stage-artifacts and install-artifacts against a real HTTP server; verify against a kubelet-style healthz.</summary>
public sealed class ArtifactTests
{
    private static string PlanWith(string url, string sha, string installPath = "/usr/bin/kubelet") => $"""
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: binaries
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: containerd
          artifacts:
            - name: kubelet
              url: {url}
              sha256: "{sha}"
              installPath: {installPath}
              mode: "0755"
          skipPhases: [prepull-images]
        """;

    [Fact]
    public async Task Artifacts_are_downloaded_checked_cached_and_installed_atomically_and_undone()
    {
        await using var http = await HttpFiles.StartAsync();
        using var node = new NodeRoot();
        node.Write("/usr/bin/kubelet", "#!/bin/sh\necho old kubelet\n");
        var oldKubelet = node.Snapshot()["/usr/bin/kubelet"];
        var body = Encoding.ASCII.GetBytes("#!/bin/sh\necho Kubernetes v1.31.2\n");
        var (url, sha) = http.Add("kubelet", body);
        var plan = node.WritePlan(PlanWith(url, sha));

        var r = await node.AgentAsync(["--kubelet-healthz", http.HealthzUrl, "apply", plan, "--ignore-preflight-errors=all"]);
        // verify asks the runtime, which is not running here: the run fails at verify and is undone.
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error execution phase verify/runtime", r.All);
        Assert.Equal(oldKubelet, node.Snapshot()["/usr/bin/kubelet"]);
        Assert.True(File.Exists(node.HostPath($"/var/lib/nodefleet-agent/cache/{sha}")));

        // Without verify the same plan installs the binary; the cache saves the second download.
        var noVerify = node.WritePlan(PlanWith(url, sha).Replace("[prepull-images]", "[prepull-images, verify]"), "plan2.yaml");
        var ok = await node.AgentAsync(["apply", noVerify, "--ignore-preflight-errors=all"]);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal(body, File.ReadAllBytes(node.HostPath("/usr/bin/kubelet")));
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(node.HostPath("/usr/bin/kubelet")));
        Assert.Equal(1, http.Requests);
        Assert.Contains("restart kubelet", node.SystemctlCalls());
        Assert.Empty(Directory.GetFiles(node.HostPath("/usr/bin"), ".*"));
    }

    [Fact]
    public async Task A_checksum_mismatch_fails_and_touches_nothing_else()
    {
        await using var http = await HttpFiles.StartAsync();
        using var node = new NodeRoot();
        var (url, _) = http.Add("kubelet", Encoding.ASCII.GetBytes("tampered"));
        var wrong = new string('a', 64);
        var before = node.Snapshot();
        var r = await node.AgentAsync(["apply", node.WritePlan(PlanWith(url, wrong)), "--ignore-preflight-errors=all"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"checksum mismatch for kubelet from {url}: expected sha256 {wrong}", r.All);
        Assert.Equal(before, node.Snapshot());
        var cache = node.HostPath("/var/lib/nodefleet-agent/cache");
        Assert.True(!Directory.Exists(cache) || Directory.GetFiles(cache).Length == 0);
        Assert.Empty(node.SystemctlCalls());
    }

    [Fact]
    public async Task Verify_checks_the_kubelet_healthz_when_a_kubelet_is_installed()
    {
        await using var http = await HttpFiles.StartAsync();
        using var node = new NodeRoot();
        await using var containerd = await RuntimeDaemons.StartContainerdAsync(Path.Combine(node.Scratch, "containerd"),
            node.HostPath("/run/containerd/containerd.sock"), systemdCgroup: true);
        var (url, sha) = http.Add("kubelet", Encoding.ASCII.GetBytes("#!/bin/sh\n"));
        var r = await node.AgentAsync(["--kubelet-healthz", http.HealthzUrl, "apply", node.WritePlan(PlanWith(url, sha)), "--ignore-preflight-errors=all"]);
        Assert.Contains("[verify/runtime] ok", r.All);
        Assert.Contains("[verify/kubelet-healthz] ok: kubelet healthz ok", r.All);
        // The kubeadm images are not in this private containerd (pre-pull is skipped), so verify/images fails the run.
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error execution phase verify/images: images missing: registry.k8s.io/kube-apiserver:v1.31.2", r.All);
    }
}
