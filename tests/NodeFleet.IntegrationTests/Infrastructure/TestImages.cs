using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NodeFleet.Plans;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>An OCI image built by <see cref="TestImages"/>: an OCI layout on disk holding one tag.</summary>
public sealed record TestImage(string Layout, string Tag, string Digest)
{
    /// <summary>"oci:LAYOUT:TAG", skopeo's name for it.</summary>
    public string OciReference => $"oci:{Layout}:{Tag}";
}

/// <summary>An image pushed to a registry: "127.0.0.1:PORT/coredns/coredns:v1.11.3" with its manifest digest.</summary>
public sealed record PushedImage(string Registry, string Repository, string Tag, string Digest)
{
    /// <summary>"REGISTRY/REPOSITORY:TAG".</summary>
    public string Reference => $"{Registry}/{Repository}:{Tag}";

    /// <summary>"REGISTRY/REPOSITORY@sha256:…".</summary>
    public string DigestReference => $"{Registry}/{Repository}@{Digest}";

    /// <summary>The same repository and tag under another registry: what a client of a mirror asks for
    /// (<c>As("registry.k8s.io")</c> → "registry.k8s.io/pause:3.10").</summary>
    public string As(string registry) => $"{registry}/{Repository}:{Tag}";
}

/// <summary>
/// Real OCI images, built with umoci (rootless) and pushed with skopeo. Each distinct image is built once per test
/// run into a shared scratch folder and reused, so pushing to several registries is only a <c>skopeo copy</c>.
/// Thread-safe: tests running in parallel share the cache.
/// </summary>
/// <example>
/// <code>
/// await using var registry = await TestRegistry.StartNewAsync();
/// var images = await TestImages.PushKubeadmSetAsync(registry, "v1.31.2");   // kube-apiserver:v1.31.2 … pause:3.10 …
/// // images[i].As("registry.k8s.io") is what the agent pulls through a mirror entry pointing at registry.Url.
/// var big = await TestImages.PushLargeAsync(registry, "bench/big", "v1");   // 20 MB, 4 layers, incompressible
/// </code>
/// </example>
public static class TestImages
{
    public const string Umoci = "/usr/bin/umoci";
    public const string Skopeo = "/usr/bin/skopeo";
    public const string BusyboxStatic = "/bin/busybox";
    private const string LayoutTag = "image";

    private static readonly ConcurrentDictionary<string, Lazy<Task<TestImage>>> Built = new();

    private static readonly Lazy<string> CacheDirectory = new(() =>
    {
        var dir = Directory.CreateTempSubdirectory("nf-test-images-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        };
        return dir;
    });

    /// <summary>
    /// A tiny single-layer image identified by <paramref name="content"/> (e.g. "pause:3.10"): files
    /// /nodefleet-test-image (holding that text) and /etc/hostname; with <paramref name="busybox"/>, also
    /// /bin/busybox from busybox-static and <c>/bin/busybox sleep 3600</c> as the command (a runnable image).
    /// The same content gives the same image (and digest) for the whole test run.
    /// </summary>
    public static Task<TestImage> SmallAsync(string content, bool busybox = false) =>
        Cached($"small{(busybox ? "-busybox" : "")}:{content}", async (layout, work) =>
        {
            await AddLayerAsync(layout, work, rootfs =>
            {
                File.WriteAllText(Path.Combine(rootfs, "nodefleet-test-image"), content + "\n");
                Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
                File.WriteAllText(Path.Combine(rootfs, "etc", "hostname"), "nodefleet-test\n");
                if (busybox)
                {
                    if (!File.Exists(BusyboxStatic))
                        throw new FileNotFoundException($"{BusyboxStatic} is missing: scripts/test.sh installs it (apt-get install busybox-static)");
                    Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
                    File.Copy(BusyboxStatic, Path.Combine(rootfs, "bin", "busybox"));
                    File.CreateSymbolicLink(Path.Combine(rootfs, "bin", "sh"), "busybox");
                }
            });
            if (busybox)
                await RunAsync(Umoci, ["config", "--image", $"{layout}:{LayoutTag}", "--config.cmd", "/bin/busybox",
                    "--config.cmd", "sleep", "--config.cmd", "3600"]);
        });

    /// <summary>
    /// A multi-layer image of about <paramref name="megabytes"/> MB of random (incompressible) data: each of the
    /// <paramref name="layers"/> layers adds one file of megabytes/layers MB. Built once per size and layer count.
    /// </summary>
    public static Task<TestImage> LargeAsync(int megabytes = 20, int layers = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(megabytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        return Cached($"large:{megabytes}MB:{layers}", async (layout, work) =>
        {
            var perLayer = megabytes * 1024L * 1024L / layers;
            for (var i = 0; i < layers; i++)
            {
                var index = i;
                await AddLayerAsync(layout, work, rootfs =>
                {
                    Directory.CreateDirectory(Path.Combine(rootfs, "data"));
                    using var file = File.Create(Path.Combine(rootfs, "data", $"layer-{index}.bin"));
                    var buffer = new byte[1024 * 1024];
                    for (var left = perLayer; left > 0; left -= buffer.Length)
                    {
                        RandomNumberGenerator.Fill(buffer);
                        file.Write(buffer, 0, (int)Math.Min(buffer.Length, left));
                    }
                });
            }
        });
    }

    /// <summary>Copies <paramref name="image"/> to REGISTRY/REPOSITORY:TAG (plain HTTP).</summary>
    public static async Task<PushedImage> PushAsync(string registryAddress, TestImage image, string repository, string tag)
    {
        await RunAsync(Skopeo, ["copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false", image.OciReference,
            $"docker://{registryAddress}/{repository}:{tag}"]);
        return new PushedImage(registryAddress, repository, tag, image.Digest);
    }

    public static Task<PushedImage> PushAsync(TestRegistry registry, TestImage image, string repository, string tag) =>
        PushAsync(registry.Address, image, repository, tag);

    /// <summary>
    /// Pushes the small image identified by <paramref name="source"/> (see <see cref="SmallAsync"/>) as
    /// REPOSITORY:TAG: <c>PushAsync(r, "pause:3.10", "k8s/pause", "3.10")</c> gives the same digest as
    /// <c>PushSmallAsync(r, "pause", "3.10")</c>, under another name.
    /// </summary>
    public static async Task<PushedImage> PushAsync(TestRegistry registry, string source, string repository, string tag) =>
        await PushAsync(registry.Address, await SmallAsync(source), repository, tag);

    /// <summary>A tiny image as NAME:TAG (its content is "NAME:TAG", so each name and tag has its own digest).</summary>
    public static Task<PushedImage> PushSmallAsync(TestRegistry registry, string name, string tag, bool busybox = false) =>
        PushSmallAsync(registry.Address, name, tag, busybox);

    public static async Task<PushedImage> PushSmallAsync(string registryAddress, string name, string tag, bool busybox = false) =>
        await PushAsync(registryAddress, await SmallAsync($"{name}:{tag}", busybox), name, tag);

    /// <summary>
    /// The images kubeadm uses for <paramref name="kubernetesVersion"/> (<see cref="KubeadmImages.List"/>), laid out at
    /// the registry root as a mirror of registry.k8s.io holds them: kube-apiserver:v1.31.2, …, coredns/coredns:v1.11.3,
    /// pause:3.10, etcd:3.5.15-0. Each is a distinct tiny image; the pause image is the one <see cref="PushSmallAsync(TestRegistry,string,string,bool)"/>
    /// pushes for the same name and tag. Use <see cref="PushedImage.As"/>("registry.k8s.io") for what a node asks for.
    /// </summary>
    public static Task<IReadOnlyList<PushedImage>> PushKubeadmSetAsync(TestRegistry registry, string kubernetesVersion) =>
        PushAllAsync(registry.Address, KubeadmImages.List(KubernetesRelease.Parse(kubernetesVersion)));

    /// <summary>
    /// The kubeadm images laid out as kubeadm expects them under <c>imageRepository: 127.0.0.1:PORT[/PATH]</c>
    /// (coredns without its "coredns/" sub-path). Returns them with their full references in that repository.
    /// </summary>
    public static Task<IReadOnlyList<PushedImage>> PushKubeadmSetAsImageRepositoryAsync(TestRegistry registry,
        string kubernetesVersion, string path = "") =>
        PushAllAsync(registry.Address, KubeadmImages.List(KubernetesRelease.Parse(kubernetesVersion),
            path.Length == 0 ? registry.Address : $"{registry.Address}/{path.Trim('/')}"));

    /// <summary>A ~<paramref name="megabytes"/> MB image of <paramref name="layers"/> incompressible layers, as NAME:TAG.</summary>
    public static async Task<PushedImage> PushLargeAsync(TestRegistry registry, string name, string tag, int megabytes = 20, int layers = 4) =>
        await PushAsync(registry.Address, await LargeAsync(megabytes, layers), name, tag);

    private static async Task<IReadOnlyList<PushedImage>> PushAllAsync(string registryAddress, IReadOnlyList<ImageReference> images) =>
        await Task.WhenAll(images.Select(async i =>
        {
            var tag = i.Tag ?? throw new ArgumentException($"{i} has no tag");
            // The image's identity is its last path component and tag ("pause:3.10", "coredns:v1.11.3"), wherever it
            // is pushed: the mirror and the imageRepository layouts hold the same digests.
            return await PushAsync(registryAddress, await SmallAsync($"{i.Repository.Split('/')[^1]}:{tag}"), i.Repository, tag);
        }));

    // ---- building ----

    /// <summary>The image for <paramref name="key"/>, built by the first caller; a failed build is forgotten so a later call retries.</summary>
    private static async Task<TestImage> Cached(string key, Func<string, string, Task> build)
    {
        var entry = Built.GetOrAdd(key, k => new Lazy<Task<TestImage>>(() => BuildAsync(k, build), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return await entry.Value;
        }
        catch
        {
            Built.TryRemove(new KeyValuePair<string, Lazy<Task<TestImage>>>(key, entry));
            throw;
        }
    }

    private static async Task<TestImage> BuildAsync(string key, Func<string, string, Task> build)
    {
        var name = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16].ToLowerInvariant();
        var dir = Path.Combine(CacheDirectory.Value, name);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var layout = Path.Combine(dir, "layout");
        var work = Path.Combine(dir, "work");
        Directory.CreateDirectory(work);
        await RunAsync(Umoci, ["init", "--layout", layout]);
        await RunAsync(Umoci, ["new", "--image", $"{layout}:{LayoutTag}"]);
        await build(layout, work);
        Directory.Delete(work, recursive: true);
        return new TestImage(layout, LayoutTag, await ManifestDigestAsync(layout, LayoutTag));
    }

    /// <summary>Unpacks the image into a fresh bundle, lets <paramref name="addFiles"/> write under its rootfs, repacks: one new layer.</summary>
    private static async Task AddLayerAsync(string layout, string work, Action<string> addFiles)
    {
        var bundle = Path.Combine(work, "bundle-" + Guid.NewGuid().ToString("N")[..8]);
        await RunAsync(Umoci, ["unpack", "--rootless", "--image", $"{layout}:{LayoutTag}", bundle]);
        addFiles(Path.Combine(bundle, "rootfs"));
        await RunAsync(Umoci, ["repack", "--image", $"{layout}:{LayoutTag}", bundle]);
        Directory.Delete(bundle, recursive: true);
    }

    /// <summary>The manifest digest index.json records for <paramref name="tag"/>; skopeo pushes the manifest unchanged.</summary>
    private static async Task<string> ManifestDigestAsync(string layout, string tag)
    {
        using var index = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(layout, "index.json")));
        foreach (var m in index.RootElement.GetProperty("manifests").EnumerateArray())
        {
            if (m.TryGetProperty("annotations", out var a) && a.TryGetProperty("org.opencontainers.image.ref.name", out var n)
                && n.GetString() == tag)
                return m.GetProperty("digest").GetString()!;
        }
        throw new InvalidOperationException($"{layout}/index.json has no manifest tagged {tag}");
    }

    private static async Task RunAsync(string file, string[] args)
    {
        if (!File.Exists(file))
            throw new FileNotFoundException($"{file} is missing: scripts/test.sh installs it (apt-get install umoci skopeo)");
        var r = await Proc.RunAsync(file, args, timeout: TimeSpan.FromMinutes(2));
        if (r.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {r}");
    }
}
