using System.Diagnostics;
using System.Net;
using System.Text.Json;
using NodeFleet.Cri.V1;
using NodeFleet.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The registry and image fixtures work for real: a docker-registry process, images built with umoci and pushed with
/// skopeo, pulled by containerd over CRI through a hosts.toml mirror entry and by dockerd over the Engine API.
/// </summary>
public sealed class RegistryFixtureTests(ITestOutputHelper output)
{
    private static async Task<ProcResult> SkopeoInspectAsync(string reference) =>
        await Proc.RunAsync(TestImages.Skopeo, ["inspect", "--tls-verify=false", $"docker://{reference}"]);

    [Fact]
    public async Task Registry_answers_v2_and_logs_requests()
    {
        await using var registry = await TestRegistry.StartNewAsync();
        Assert.Equal($"127.0.0.1:{registry.Port}", registry.Address);
        using var http = new HttpClient();
        using var response = await http.GetAsync($"{registry.Url}/v2/?probe=1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Proc.WaitUntilAsync(() => Task.FromResult(registry.Requests("/v2/?probe=1").Count == 1), TimeSpan.FromSeconds(5),
            "the request in the access log");
        var request = registry.Requests("/v2/?probe=1").Single();
        Assert.Equal("GET", request.Method);
        Assert.Equal(200, request.Status);
    }

    [Fact]
    public async Task Small_image_is_pushed_and_inspectable_and_survives_a_restart()
    {
        await using var registry = await TestRegistry.StartNewAsync();
        var pushed = await TestImages.PushSmallAsync(registry, "pause", "3.10");
        Assert.Equal($"{registry.Address}/pause:3.10", pushed.Reference);

        var inspect = await SkopeoInspectAsync(pushed.Reference);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        using (var json = JsonDocument.Parse(inspect.StdOut))
        {
            Assert.Equal(pushed.Digest, json.RootElement.GetProperty("Digest").GetString());
            Assert.Single(json.RootElement.GetProperty("Layers").EnumerateArray());
        }

        // Down: connections are refused.
        await registry.StopAsync();
        Assert.False(registry.IsRunning);
        using var http = new HttpClient();
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"{registry.Url}/v2/"));

        // Back on the same port with the same content; the log keeps both runs.
        await registry.RestartAsync();
        inspect = await SkopeoInspectAsync(pushed.Reference);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        Assert.True(registry.Requests("/v2/pause/manifests/3.10").Count >= 2, registry.Log);

        // The same small image under another name has the same digest.
        var again = await TestImages.PushAsync(registry, "pause:3.10", "mirror/pause", "3.10");
        Assert.Equal(pushed.Digest, again.Digest);
    }

    [Fact]
    public async Task Kubeadm_set_and_large_image_are_built_once_and_pushed_to_several_registries()
    {
        await using var first = await TestRegistry.StartNewAsync();
        await using var second = await TestRegistry.StartNewAsync();

        var sw = Stopwatch.StartNew();
        var set = await TestImages.PushKubeadmSetAsync(first, "v1.31.2");
        output.WriteLine($"kubeadm set v1.31.2 (7 images), build + push: {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        var again = await TestImages.PushKubeadmSetAsync(second, "v1.31.2");
        output.WriteLine($"kubeadm set, push only (cached build): {sw.ElapsedMilliseconds} ms");

        Assert.Equal(
            ["kube-apiserver:v1.31.2", "kube-controller-manager:v1.31.2", "kube-scheduler:v1.31.2", "kube-proxy:v1.31.2",
             "coredns/coredns:v1.11.3", "pause:3.10", "etcd:3.5.15-0"],
            set.Select(i => $"{i.Repository}:{i.Tag}"));
        Assert.Equal("registry.k8s.io/coredns/coredns:v1.11.3", set[4].As("registry.k8s.io"));
        Assert.Equal(7, set.Select(i => i.Digest).Distinct().Count());
        Assert.Equal(set.Select(i => i.Digest), again.Select(i => i.Digest));
        Assert.Equal(set[5].Digest, (await TestImages.PushSmallAsync(second, "pause", "3.10")).Digest);
        foreach (var image in again)
        {
            var inspect = await SkopeoInspectAsync(image.Reference);
            Assert.True(inspect.ExitCode == 0, inspect.ToString());
        }

        sw.Restart();
        var large = await TestImages.PushLargeAsync(first, "bench/large", "v1");
        output.WriteLine($"20 MB / 4 layers image, build + push: {sw.ElapsedMilliseconds} ms");
        sw.Restart();
        var largeAgain = await TestImages.PushLargeAsync(second, "bench/large", "v1");
        output.WriteLine($"20 MB / 4 layers image, push only (cached build): {sw.ElapsedMilliseconds} ms");
        Assert.Equal(large.Digest, largeAgain.Digest);

        var raw = await Proc.RunAsync(TestImages.Skopeo, ["inspect", "--raw", "--tls-verify=false", $"docker://{large.Reference}"]);
        Assert.True(raw.ExitCode == 0, raw.ToString());
        using var manifest = JsonDocument.Parse(raw.StdOut);
        var layers = manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("size").GetInt64()).ToList();
        Assert.Equal(4, layers.Count);
        // Random data does not compress: every gzip layer is at least its 5 MB of content.
        Assert.All(layers, size => Assert.True(size >= 5 * 1024 * 1024, $"layer of {size} bytes"));
        output.WriteLine($"large image layers (compressed bytes): {string.Join(", ", layers)}");

        // As kubeadm's imageRepository: 127.0.0.1:PORT/k8s/coredns:v1.11.3 (no "coredns/" sub-path).
        var asRepository = await TestImages.PushKubeadmSetAsImageRepositoryAsync(second, "v1.31.2", "k8s");
        Assert.Equal($"{second.Address}/k8s/coredns:v1.11.3", asRepository[4].Reference);
        Assert.Equal(set[4].Digest, asRepository[4].Digest);
    }

    [Fact]
    public async Task Containerd_pulls_through_a_hosts_toml_mirror_over_cri()
    {
        await using var registry = await TestRegistry.StartNewAsync();
        var pushed = await TestImages.PushSmallAsync(registry, "pause", "3.10");

        using var dir = new TempDir("nf-ctr");
        var certsDir = dir.Combine("etc-containerd", "certs.d");
        var socket = dir.Combine("containerd.sock");
        await using var containerd = await RuntimeDaemons.StartContainerdAsync(dir.Combine("containerd"), socket, systemdCgroup: false, certsDir);
        // Written after containerd started: hosts.toml is read on every pull.
        ContainerdMirror.WriteHostsToml(certsDir, "registry.k8s.io", registry);

        using var channel = NodeFleet.Net.UnixSockets.GrpcChannel(socket);
        var images = new ImageService.ImageServiceClient(channel);
        var spec = new ImageSpec { Image = "registry.k8s.io/pause:3.10" };
        var pull = await images.PullImageAsync(new PullImageRequest { Image = spec });
        Assert.StartsWith("sha256:", pull.ImageRef);

        var status = await images.ImageStatusAsync(new ImageStatusRequest { Image = spec });
        Assert.NotNull(status.Image);
        Assert.Contains("registry.k8s.io/pause:3.10", status.Image.RepoTags);
        Assert.Contains($"registry.k8s.io/pause@{pushed.Digest}", status.Image.RepoDigests);

        var mirrored = registry.Requests("?ns=registry.k8s.io");
        output.WriteLine("registry requests with ns=registry.k8s.io:\n" + string.Join('\n', mirrored));
        // containerd resolves the tag with HEAD, then GETs the manifest by digest and the blobs, all with ns=.
        Assert.Contains(mirrored, r => r is { Method: "HEAD", Path: "/v2/pause/manifests/3.10?ns=registry.k8s.io", Status: 200 });
        Assert.Contains(mirrored, r => r is { Method: "GET", Status: 200 } && r.Path == $"/v2/pause/manifests/{pushed.Digest}?ns=registry.k8s.io");

        Assert.Contains("registry.k8s.io/pause:3.10", await Ctr.ImagesAsync(socket));
        await Ctr.RemoveImagesAsync(socket, "registry.k8s.io/pause:3.10");
        Assert.DoesNotContain("registry.k8s.io/pause:3.10", await Ctr.ImagesAsync(socket));
        status = await images.ImageStatusAsync(new ImageStatusRequest { Image = spec });
        Assert.Null(status.Image);
    }

    [Fact]
    public async Task Dockerd_pulls_from_the_loopback_registry_over_the_engine_api()
    {
        await using var registry = await TestRegistry.StartNewAsync();
        var pushed = await TestImages.PushSmallAsync(registry, "pause", "3.10");

        using var dir = new TempDir("nf-dkr");
        try
        {
            await DockerdPullAsync(dir, registry, pushed);
        }
        finally
        {
            // dockerd bind-mounts its data root onto itself; killed, it leaves that mount behind.
            await Mounts.UnmountUnderAsync(dir.Path);
        }
    }

    private static async Task DockerdPullAsync(TempDir dir, TestRegistry registry, PushedImage pushed)
    {
        var socket = dir.Combine("docker.sock");
        await using var dockerd = await RuntimeDaemons.StartDockerdAsync(dir.Combine("docker"), socket, "cgroupfs");
        using var http = NodeFleet.Net.UnixSockets.HttpClient(socket);

        using var create = await http.PostAsync($"/images/create?fromImage={registry.Address}/pause&tag=3.10", null);
        var progress = await create.Content.ReadAsStringAsync();
        Assert.True(create.StatusCode == HttpStatusCode.OK, progress);
        Assert.DoesNotContain("\"error\"", progress);

        using var inspect = await http.GetAsync($"/images/{registry.Address}/pause:3.10/json");
        var body = await inspect.Content.ReadAsStringAsync();
        Assert.True(inspect.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        Assert.Contains($"{registry.Address}/pause@{pushed.Digest}",
            json.RootElement.GetProperty("RepoDigests").EnumerateArray().Select(d => d.GetString()));
        Assert.Contains(registry.Requests("/v2/pause/manifests/"), r => r.UserAgent.Contains("docker", StringComparison.OrdinalIgnoreCase));
    }
}
