using Grpc.Core;
using NodeFleet.Cri.V1;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// prepull-images against real components: containerd (CRI on its unix socket) and dockerd, a real registry
/// serving as the mirror of registry.k8s.io, images built with umoci and pushed with skopeo.
/// </summary>
public sealed class ImagePrepullTests : IAsyncLifetime
{
    private TestRegistry _registry = null!;
    private readonly NodeRoot _node = new();
    private BackgroundProc? _containerd;

    private string Socket => _node.HostPath("/run/containerd/containerd.sock");
    private string ContainerdWork => Path.Combine(_node.Scratch, "containerd");

    public async Task InitializeAsync()
    {
        _registry = await TestRegistry.StartNewAsync();
        await TestImages.PushKubeadmSetAsync(_registry, "v1.31.2");
    }

    public async Task DisposeAsync()
    {
        if (_containerd is not null) await _containerd.DisposeAsync();
        await _registry.DisposeAsync();
        _node.Dispose();
    }

    /// <summary>containerd reading the hosts.toml files the agent writes under its root.</summary>
    private async Task StartContainerdAsync() =>
        _containerd = await RuntimeDaemons.StartContainerdAsync(ContainerdWork, Socket, systemdCgroup: true,
            certsDir: _node.HostPath("/etc/containerd/certs.d"));

    private string Plan(string images = "[]", string runtime = "containerd", string skip = "stage-artifacts, install-artifacts, restart-services",
        string? mirror = null) => $"""
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: prepull
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: {runtime}
          registry:
            mirrors:
              registry.k8s.io: ["{mirror ?? _registry.Url}"]
          images: {images}
          skipPhases: [{skip}]
        """;

    private async Task<IReadOnlyList<string>> CriImagesAsync()
    {
        using var channel = NodeFleet.Net.UnixSockets.GrpcChannel(Socket);
        var list = await new ImageService.ImageServiceClient(channel).ListImagesAsync(new ListImagesRequest());
        return list.Images.SelectMany(i => i.RepoTags).ToList();
    }

    [Fact]
    public async Task Pulls_the_kubeadm_set_through_the_containerd_mirror_and_not_again_when_present()
    {
        await StartContainerdAsync();
        var r = await _node.AgentAsync(["apply", _node.WritePlan(Plan()), "--ignore-preflight-errors=Port-10250,Port-10256,DiskSpace"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("[prepull-images/pull] applied", r.All);
        Assert.Contains("[verify/images] ok: 7 images present", r.All);

        var images = await CriImagesAsync();
        foreach (var expected in new[]
                 {
                     "registry.k8s.io/kube-apiserver:v1.31.2", "registry.k8s.io/kube-controller-manager:v1.31.2",
                     "registry.k8s.io/kube-scheduler:v1.31.2", "registry.k8s.io/kube-proxy:v1.31.2",
                     "registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io/pause:3.10", "registry.k8s.io/etcd:3.5.15-0",
                 })
        {
            Assert.Contains(expected, images);
        }
        // The pulls went to the mirror, asked for registry.k8s.io content.
        Assert.NotEmpty(_registry.Requests("/v2/pause/manifests/3.10?ns=registry.k8s.io"));

        var manifestRequests = _registry.Requests("/manifests/").Count;
        var again = await _node.AgentAsync(["apply", _node.WritePlan(Plan().Replace("name: prepull", "name: prepull-again")),
            "--ignore-preflight-errors=Port-10250,Port-10256,DiskSpace"]);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("[prepull-images/pull] ok: all 7 images present", again.All);
        Assert.Equal(manifestRequests, _registry.Requests("/manifests/").Count);
    }

    [Fact]
    public async Task A_missing_image_fails_naming_image_registry_mirror_and_the_runtime_message()
    {
        await StartContainerdAsync();
        var r = await _node.AgentAsync(["apply", _node.WritePlan(Plan("[registry.k8s.io/does-not-exist:v9]")), "--ignore-preflight-errors=all"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("pull of registry.k8s.io/does-not-exist:v9 failed: from registry.k8s.io via mirror " + _registry.Url, r.All);
        Assert.Contains("NotFound", r.All);
        // Not found is not retried.
        Assert.DoesNotContain("retrying", r.All);
    }

    [Fact]
    public async Task A_registry_that_comes_back_is_retried_and_one_that_stays_down_fails_clearly()
    {
        await StartContainerdAsync();
        await _registry.StopAsync();
        var restart = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            await _registry.RestartAsync();
        });
        var r = await _node.AgentAsync(["apply", _node.WritePlan(Plan("[registry.k8s.io/pause:3.10]")), "--ignore-preflight-errors=all"]);
        await restart;
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("registry.k8s.io/pause:3.10", await CriImagesAsync());

        await _registry.StopAsync();
        var down = await _node.AgentAsync(["apply", _node.WritePlan(Plan("[registry.k8s.io/kube-proxy:v1.31.2]").Replace("name: prepull", "name: down")),
            "--ignore-preflight-errors=all"]);
        Assert.Equal(1, down.ExitCode);
        Assert.Contains("pull of registry.k8s.io/kube-proxy:v1.31.2 failed: from registry.k8s.io via mirror", down.All);
        Assert.Contains("connection refused", down.All);
    }

    [Fact]
    public async Task Containerd_restarted_mid_pull_the_step_completes_after_it_returns()
    {
        var large = await TestImages.PushLargeAsync(_registry, "big", "v1", megabytes: 8, layers: 2);
        await StartContainerdAsync();
        // The mirror behind a slow link (the first layer takes about two seconds), so that containerd is killed while
        // it fetches, before any layer unpacks: a kill between the native snapshotter's rename and its commit leaves a
        // directory that fails every later unpack ("file exists"), a containerd fault no client can repair.
        await using var slow = new TcpProxy(_registry.Port) { BytesPerSecond = 2 * 1024 * 1024 };
        var apply = _node.AgentAsync(["apply", _node.WritePlan(Plan($"[{large.As("registry.k8s.io")}]", mirror: $"http://127.0.0.1:{slow.Port}")),
            "--ignore-preflight-errors=all"]);
        // Kill containerd as soon as the pull has started, bring it back a moment later.
        await Proc.WaitUntilAsync(() => Task.FromResult(_registry.Requests("/v2/big/blobs/").Any(r => r.UserAgent.Contains("containerd", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(30), "containerd to start fetching the large image");
        await _containerd!.KillHardAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        _containerd = await RuntimeDaemons.StartContainerdAsync(ContainerdWork, Socket, systemdCgroup: true, certsDir: _node.HostPath("/etc/containerd/certs.d"));
        var r = await apply;
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(large.As("registry.k8s.io"), await CriImagesAsync());
    }

    [Fact]
    public async Task Docker_pulls_from_the_mirror_and_tags_the_upstream_name()
    {
        await using var dockerd = await RuntimeDaemons.StartDockerdAsync(Path.Combine(_node.Scratch, "d"), _node.HostPath("/var/run/docker.sock"), "cgroupfs");
        var r = await _node.AgentAsync(["apply", _node.WritePlan(Plan("[registry.k8s.io/pause:3.10, registry.k8s.io/kube-proxy:v1.31.2]", runtime: "docker")),
            "--ignore-preflight-errors=all"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var http = NodeFleet.Net.UnixSockets.HttpClient(_node.HostPath("/var/run/docker.sock"));
        Assert.True((await http.GetAsync("/images/registry.k8s.io/pause:3.10/json")).IsSuccessStatusCode);
        Assert.True((await http.GetAsync("/images/registry.k8s.io/kube-proxy:v1.31.2/json")).IsSuccessStatusCode);
        Assert.NotEmpty(_registry.Requests("/v2/pause/manifests/3.10"));

        var missing = await _node.AgentAsync(["apply", _node.WritePlan(Plan("[registry.k8s.io/nope:v1]", runtime: "docker").Replace("name: prepull", "name: nope")),
            "--ignore-preflight-errors=all"]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains($"pull of registry.k8s.io/nope:v1 failed: from registry.k8s.io via mirror {_registry.Address}", missing.All);
    }

    [Fact]
    public async Task Preflight_reports_a_mirror_that_does_not_answer()
    {
        await StartContainerdAsync();
        await _registry.StopAsync();
        var r = await _node.AgentAsync(["apply", _node.WritePlan(Plan()), "--ignore-preflight-errors=Port-10250,Port-10256,DiskSpace"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"[ERROR Mirror-{_registry.Address}]: mirror {_registry.Url} for registry.k8s.io does not answer /v2/", r.All);
    }

    [Fact]
    public async Task Crio_path_pulls_through_a_cri_server_and_its_mirror_file_serves_with_skopeo()
    {
        // cri-o cannot be installed here: a CRI ImageService on a unix socket (in-process) stands in for it.
        await using var crio = await FakeCriServer.StartAsync(_node.HostPath("/var/run/crio/crio.sock"));
        var r = await _node.AgentAsync(["apply", _node.WritePlan(Plan("[registry.k8s.io/pause:3.10]", runtime: "cri-o", skip: "stage-artifacts, install-artifacts")),
            "--ignore-preflight-errors=all"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["registry.k8s.io/pause:3.10"], crio.Pulled);
        Assert.Contains("restart crio", _node.SystemctlCalls());

        // The registries.conf.d file the agent wrote really sends registry.k8s.io to the mirror.
        var conf = _node.HostPath("/etc/containers/registries.conf.d/nodefleet-mirrors.conf");
        var inspect = await Proc.RunAsync("/usr/bin/skopeo", ["--registries-conf", conf, "inspect", "--raw", "docker://registry.k8s.io/pause:3.10"]);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        Assert.NotEmpty(_registry.Requests("/v2/pause/manifests/3.10"));
    }

    [Fact]
    public async Task Registry_credentials_come_from_the_file_the_plan_names()
    {
        await using var crio = await FakeCriServer.StartAsync(_node.HostPath("/var/run/crio/crio.sock"));
        _node.Write("/etc/nodefleet/registry-auth.json",
            "{\"auths\": {\"registry.k8s.io\": {\"auth\": \"" + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("puller:s3cret")) + "\"}}}");
        var plan = Plan("[registry.k8s.io/pause:3.10, quay.io/other/image:v1]", runtime: "cri-o", skip: "stage-artifacts, install-artifacts")
            .Replace("  images:", "    credentialsFile: /etc/nodefleet/registry-auth.json\n  images:");
        var r = await _node.AgentAsync(["apply", _node.WritePlan(plan), "--ignore-preflight-errors=all"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var byImage = crio.Pulled.Zip(crio.Auths).ToDictionary(p => p.First, p => p.Second);
        Assert.Equal("puller:s3cret@registry.k8s.io", byImage["registry.k8s.io/pause:3.10"]);
        Assert.Equal("", byImage["quay.io/other/image:v1"]);
        // The secret never travels in the plan, nor lands in the agent's journal or logs.
        Assert.DoesNotContain("s3cret", plan);
        Assert.DoesNotContain("s3cret", r.All);
    }
}
