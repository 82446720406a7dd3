using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The Kubernetes API test server is a stand-in for kube-apiserver, which cannot run here; these tests prove it
/// faithful with the real client: kubectl 1.27 and 1.33 (the binaries /usr/bin/kubectl dispatches to by the
/// server's /version) get, cordon, uncordon and drain against it, and the server's record shows what they did.
/// Covered: discovery, bearer-token auth, Node get/list/strategic-merge patch and the Table kubectl prints,
/// pod listing by spec.nodeName, DaemonSet and mirror pods left alone, eviction under a PodDisruptionBudget
/// (allowed, and refused with 429 until kubectl's timeout), Terminating pods waited for, unmanaged and emptyDir
/// pods refused without --force and --delete-emptydir-data.
/// </summary>
public sealed class KubeApiServerFidelityTests(ITestOutputHelper output)
{
    private const string KubectlDir = "/usr/lib/google-cloud-sdk/bin";

    // Each kubectl minor is paired with a server of the same minor, as the dispatcher would pick it.
    private static string ServerVersion(string minor) => minor switch { "1.27" => "1.27.16", "1.33" => "1.33.1", _ => minor + ".0" };

    private sealed class Cluster(KubeApiServer server, TempDir dir, string kubectl) : IAsyncDisposable
    {
        public KubeApiServer Server => server;
        public string Kubeconfig { get; } = server.WriteKubeconfig(dir.Combine("kubeconfig"));
        public string Kubectl => kubectl;
        public TempDir Dir => dir;

        public async ValueTask DisposeAsync()
        {
            await server.DisposeAsync();
            dir.Dispose();
        }
    }

    private static async Task<Cluster> StartAsync(string minor)
    {
        var server = await KubeApiServer.StartAsync(ServerVersion(minor));
        return new Cluster(server, new TempDir("nf-kube"), Path.Combine(KubectlDir, "kubectl." + minor));
    }

    private async Task<ProcResult> KubectlAsync(Cluster c, params string[] args) => await KubectlWithAsync(c, c.Kubectl, args);

    private async Task<ProcResult> KubectlWithAsync(Cluster c, string kubectl, params string[] args)
    {
        // A private HOME and discovery cache: ports are reused between tests, and a cache keyed by host:port would lie.
        var result = await Proc.RunAsync(kubectl,
            ["--kubeconfig", c.Kubeconfig, "--cache-dir", c.Dir.Combine("cache"), .. args],
            new Dictionary<string, string> { ["HOME"] = c.Dir.Path }, TimeSpan.FromSeconds(60));
        output.WriteLine($"$ kubectl {string.Join(' ', args)}\n{result}");
        return result;
    }

    private void ShowRecord(KubeApiServer server)
    {
        foreach (var e in server.Record) output.WriteLine(e.ToString());
        // Every request kubectl made was one the stand-in serves.
        Assert.Empty(server.Unserved);
    }

    [Theory]
    [InlineData("1.27")]
    [InlineData("1.33")]
    public async Task Kubectl_gets_cordons_and_uncordons_nodes(string minor)
    {
        await using var c = await StartAsync(minor);
        c.Server.AddNode("cp-1", kubeletVersion: "v" + ServerVersion(minor), controlPlane: true);
        c.Server.AddNode("worker-1", kubeletVersion: "v" + ServerVersion(minor));

        var get = await KubectlAsync(c, "get", "nodes");
        Assert.Equal(0, get.ExitCode);
        Assert.Matches(@"cp-1\s+Ready\s+control-plane\s+\d+s\s+v" + ServerVersion(minor).Replace(".", "\\."), get.StdOut);
        Assert.Matches(@"worker-1\s+Ready\s+<none>", get.StdOut);

        var cordon = await KubectlAsync(c, "cordon", "worker-1");
        Assert.Equal(0, cordon.ExitCode);
        Assert.Contains("node/worker-1 cordoned", cordon.StdOut);
        Assert.True(c.Server.IsUnschedulable("worker-1"));
        Assert.Matches(@"worker-1\s+Ready,SchedulingDisabled", (await KubectlAsync(c, "get", "node", "worker-1")).StdOut);
        Assert.Contains("already cordoned", (await KubectlAsync(c, "cordon", "worker-1")).StdOut);

        var uncordon = await KubectlAsync(c, "uncordon", "worker-1");
        Assert.Equal(0, uncordon.ExitCode);
        Assert.Contains("node/worker-1 uncordoned", uncordon.StdOut);
        Assert.False(c.Server.IsUnschedulable("worker-1"));
        Assert.Null(c.Server.Node("worker-1")!["spec"]!["unschedulable"]);

        ShowRecord(c.Server);
        var patches = c.Server.Record.Where(e => e.Action == KubeApiActions.PatchNode).Select(e => e.Detail).ToList();
        Assert.Equal(["strategic-merge-patch {\"spec\":{\"unschedulable\":true}}", "strategic-merge-patch {\"spec\":{\"unschedulable\":null}}"], patches);

        // The dispatcher at /usr/bin/kubectl picks the client of the server's minor.
        var version = await KubectlWithAsync(c, "/usr/bin/kubectl", "version", "-o", "json");
        Assert.Equal(0, version.ExitCode);
        var versions = JsonNode.Parse(version.StdOut)!;
        Assert.Equal(minor.Split('.')[1], (string?)versions["clientVersion"]!["minor"]);
        Assert.Equal("v" + ServerVersion(minor), (string?)versions["serverVersion"]!["gitVersion"]);
    }

    [Fact]
    public async Task Requests_without_the_bearer_token_are_refused_with_a_Status()
    {
        await using var c = await StartAsync("1.33");
        c.Server.AddNode("n1");
        using var http = Http(c.Server, token: null);
        using var response = await http.GetAsync("/api/v1/nodes");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("Unauthorized", (string?)status["reason"]);
        Assert.Equal(401, (int?)status["code"]);

        File.WriteAllText(c.Kubeconfig, File.ReadAllText(c.Kubeconfig).Replace(c.Server.Token, "wrong-token"));
        var get = await KubectlAsync(c, "get", "nodes");
        Assert.NotEqual(0, get.ExitCode);
        // What kubectl prints for a 401 from kube-apiserver.
        Assert.Contains("You must be logged in to the server", get.StdErr);
    }

    private static HttpClient Http(KubeApiServer server, string? token)
    {
        var handler = new HttpClientHandler
        {
            // Trust exactly the server's own certificate, as a kubeconfig's certificate-authority-data does.
            ServerCertificateCustomValidationCallback = (_, cert, _, _) =>
                cert is not null && cert.ExportCertificatePem() == server.CaPem,
        };
        var http = new HttpClient(handler) { BaseAddress = new Uri(server.Url) };
        if (token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static readonly Dictionary<string, string> Web = new() { ["app"] = "web" };

    [Theory]
    [InlineData("1.27")]
    [InlineData("1.33")]
    public async Task Kubectl_drain_evicts_managed_pods_waits_for_them_and_leaves_daemonset_and_mirror_pods(string minor)
    {
        await using var c = await StartAsync(minor);
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        c.Server.AddDaemonSet("kube-system", "kube-proxy");
        c.Server.AddPod(new TestPod("kube-system", "kube-proxy-n1", "n1") { Owner = PodOwner.DaemonSet("kube-proxy") });
        c.Server.AddPod(new TestPod("kube-system", "etcd-n1", "n1") { Mirror = true });
        c.Server.AddReplicaSet(new TestReplicaSet("default", "web", 2, Web) { PodTerminationDelay = TimeSpan.FromSeconds(1.5) }, "n1", "n2");
        c.Server.AddPod(new TestPod("default", "cache-0", "n1") { Owner = PodOwner.ReplicaSet("cache"), EmptyDir = true });
        c.Server.AddPodDisruptionBudget("default", "web", Web, minAvailable: "1");

        var drain = await KubectlAsync(c, "drain", "n1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s");
        var finished = DateTimeOffset.UtcNow;
        ShowRecord(c.Server);
        Assert.Equal(0, drain.ExitCode);
        Assert.Contains("pod/web-0 evicted", drain.StdOut);
        Assert.Contains("node/n1 drained", drain.StdOut);
        Assert.Contains("kube-system/kube-proxy-n1", drain.All);   // named in the "ignoring DaemonSet-managed Pods" warning
        Assert.True(c.Server.IsUnschedulable("n1"));
        Assert.Equal(["kube-system/etcd-n1", "kube-system/kube-proxy-n1"], c.Server.PodsOn("n1"));

        // From the record: each managed pod evicted once, and kubectl waited out web-0's Terminating time.
        var record = c.Server.Record;
        Assert.Equal(["pod/default/cache-0", "pod/default/web-0"],
            record.Where(e => e.Action == KubeApiActions.Evicted).Select(e => e.Target).Order(StringComparer.Ordinal));
        var evicted = record.Single(e => e.Action == KubeApiActions.Evicted && e.Target == "pod/default/web-0");
        var gone = record.Single(e => e.Action == KubeApiActions.PodGone && e.Target == "pod/default/web-0");
        Assert.True(gone.At - evicted.At >= TimeSpan.FromSeconds(1.4), $"Terminating from {evicted.At:O} to {gone.At:O}");
        Assert.True(gone.At <= finished, "kubectl drain returned before web-0 was gone");
        Assert.DoesNotContain(record, e => e.Action == KubeApiActions.EvictionRefused);
        Assert.True(c.Server.MaxUnavailable("default/web") <= 1);
        Assert.Contains(c.Server.Requests, r => r.StartsWith("GET /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy", StringComparison.Ordinal));
        Assert.Contains(c.Server.Requests, r => r.StartsWith("GET /api/v1/pods?", StringComparison.Ordinal) && r.Contains("spec.nodeName%3Dn1", StringComparison.Ordinal));
        // The stand-in ReplicaSet put web-0's replacement on the node still schedulable.
        Assert.Equal(2, c.Server.PodsOn("n2").Count);
    }

    [Theory]
    [InlineData("1.27")]
    [InlineData("1.33")]
    public async Task A_budget_with_no_disruption_allowed_blocks_kubectl_drain_until_its_timeout(string minor)
    {
        await using var c = await StartAsync(minor);
        c.Server.AddNode("n1");
        c.Server.AddNode("n2");
        c.Server.AddReplicaSet(new TestReplicaSet("default", "web", 2, Web), "n1", "n2");
        c.Server.AddPodDisruptionBudget("default", "web-pdb", Web, maxUnavailable: "0");
        Assert.Equal((2, 2, 2, 0), c.Server.BudgetStatus("default", "web-pdb"));

        var drain = await KubectlAsync(c, "drain", "n1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=2s");
        ShowRecord(c.Server);
        Assert.NotEqual(0, drain.ExitCode);
        Assert.Contains("Cannot evict pod as it would violate the pod's disruption budget.", drain.StdErr);
        Assert.Contains("web-0", drain.StdErr);
        Assert.NotNull(c.Server.Pod("default", "web-0"));
        var refused = c.Server.Record.Where(e => e.Action == KubeApiActions.EvictionRefused).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, e => Assert.Contains("The disruption budget web-pdb needs 2 healthy pods and has 2 currently", e.Detail));
        Assert.DoesNotContain(c.Server.Record, e => e.Action == KubeApiActions.Evicted);
        Assert.Equal(0, c.Server.MaxUnavailable("default/web-pdb"));

        // The 429 body is the API's Status with the budget named in its causes.
        using var http = Http(c.Server, c.Server.Token);
        using var response = await http.PostAsync("/api/v1/namespaces/default/pods/web-0/eviction", new StringContent(
            """{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-0","namespace":"default"}}""",
            Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("TooManyRequests", (string?)status["reason"]);
        Assert.Equal(429, (int?)status["code"]);
        var cause = status["details"]!["causes"]![0]!;
        Assert.Equal("DisruptionBudget", (string?)cause["reason"]);
        Assert.Contains("web-pdb", (string?)cause["message"]);
    }

    [Theory]
    [InlineData("1.27")]
    [InlineData("1.33")]
    public async Task Kubectl_drain_refuses_unmanaged_and_emptydir_pods_without_force_and_delete_emptydir_data(string minor)
    {
        await using var c = await StartAsync(minor);
        c.Server.AddNode("n1");
        c.Server.AddPod(new TestPod("default", "loner", "n1"));
        c.Server.AddPod(new TestPod("default", "cache-0", "n1") { Owner = PodOwner.ReplicaSet("cache"), EmptyDir = true });

        var refused = await KubectlAsync(c, "drain", "n1", "--ignore-daemonsets", "--timeout=10s");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--force", refused.StdErr);
        Assert.Contains("default/loner", refused.StdErr);
        Assert.Contains("--delete-emptydir-data", refused.StdErr);
        Assert.Contains("default/cache-0", refused.StdErr);
        Assert.Equal(["default/cache-0", "default/loner"], c.Server.PodsOn("n1"));
        Assert.DoesNotContain(c.Server.Record, e => e.Action == KubeApiActions.Evicted);

        var forced = await KubectlAsync(c, "drain", "n1", "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=10s");
        ShowRecord(c.Server);
        Assert.Equal(0, forced.ExitCode);
        Assert.Empty(c.Server.PodsOn("n1"));
    }

    [Fact]
    public async Task Patches_selectors_and_budget_arithmetic_follow_the_API()
    {
        await using var c = await StartAsync("1.33");
        c.Server.AddNode("n1", labels: new Dictionary<string, string> { ["pool"] = "a" });
        c.Server.AddNode("n2", ready: false, labels: new Dictionary<string, string> { ["pool"] = "b" });
        // Replacements never turn Ready here, so the budget's arithmetic alone decides the evictions below.
        c.Server.AddReplicaSet(new TestReplicaSet("default", "web", 4, Web) { ReadyAfter = TimeSpan.FromHours(1) }, "n1", "n2");
        c.Server.AddPodDisruptionBudget("default", "half", Web, maxUnavailable: "50%");
        c.Server.AddPodDisruptionBudget("other", "most", new Dictionary<string, string> { ["app"] = "x" }, minAvailable: "75%");
        Assert.Equal((4, 4, 2, 2), c.Server.BudgetStatus("default", "half"));
        using var http = Http(c.Server, c.Server.Token);

        async Task<JsonNode> GetAsync(string path)
        {
            using var r = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            return JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        }
        async Task<HttpResponseMessage> PatchAsync(string path, string body, string type) =>
            await http.PatchAsync(path, new StringContent(body, Encoding.UTF8, type));

        var list = await GetAsync("/api/v1/nodes?labelSelector=pool%20in%20(b,c)");
        Assert.Equal("NodeList", (string?)list["kind"]);
        Assert.Equal(["n2"], list["items"]!.AsArray().Select(n => (string?)n!["metadata"]!["name"]));
        var pods = await GetAsync("/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dn1&labelSelector=app%3Dweb");
        Assert.Equal(["web-0", "web-2"], pods["items"]!.AsArray().Select(n => (string?)n!["metadata"]!["name"]));

        var before = (string?)(await GetAsync("/api/v1/nodes/n1"))["metadata"]!["resourceVersion"];
        using (var merged = await PatchAsync("/api/v1/nodes/n1", """{"metadata":{"labels":{"pool":null,"nodefleet.io/cluster":"prod"}}}""", "application/merge-patch+json"))
        {
            Assert.Equal(HttpStatusCode.OK, merged.StatusCode);
            var node = JsonNode.Parse(await merged.Content.ReadAsStringAsync())!;
            Assert.Equal("Node", (string?)node["kind"]);
            Assert.Equal("prod", (string?)node["metadata"]!["labels"]!["nodefleet.io/cluster"]);
            Assert.Null(node["metadata"]!["labels"]!["pool"]);
            Assert.NotEqual(before, (string?)node["metadata"]!["resourceVersion"]);
        }
        // A strategic merge of the status merges conditions by type; the main resource ignores status.
        using (var status = await PatchAsync("/api/v1/nodes/n2/status", """{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}}""", "application/strategic-merge-patch+json"))
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        var n2 = c.Server.Node("n2")!;
        Assert.Equal(4, n2["status"]!["conditions"]!.AsArray().Count);
        Assert.Equal("True", (string?)n2["status"]!["conditions"]!.AsArray().Single(x => (string?)x!["type"] == "Ready")!["status"]);
        using (var ignored = await PatchAsync("/api/v1/nodes/n2", """{"status":{"nodeInfo":{"kubeletVersion":"v9.9.9"}}}""", "application/merge-patch+json"))
            Assert.Equal(HttpStatusCode.OK, ignored.StatusCode);
        Assert.Equal("v1.31.4", (string?)c.Server.Node("n2")!["status"]!["nodeInfo"]!["kubeletVersion"]);
        c.Server.SetKubeletVersion("n2", "v1.32.0");
        Assert.Equal("v1.32.0", (string?)(await GetAsync("/api/v1/nodes/n2"))["status"]!["nodeInfo"]!["kubeletVersion"]);

        using (var conflict = await PatchAsync("/api/v1/nodes/n1", $$$"""{"metadata":{"resourceVersion":"{{{before}}}"},"spec":{"unschedulable":true}}""", "application/merge-patch+json"))
            Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        using (var jsonPatch = await PatchAsync("/api/v1/nodes/n1", """[{"op":"add","path":"/spec/unschedulable","value":true}]""", "application/json-patch+json"))
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, jsonPatch.StatusCode);
        Assert.False(c.Server.IsUnschedulable("n1"));

        using (var missing = await http.GetAsync("/api/v1/namespaces/default/pods/nope"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            var s = JsonNode.Parse(await missing.Content.ReadAsStringAsync())!;
            Assert.Equal("pods \"nope\" not found", (string?)s["message"]);
            Assert.Equal("NotFound", (string?)s["reason"]);
        }

        // Two evictions use up the 50% budget; the third is refused while their replacements are not Ready.
        foreach (var (pod, code) in new[] { ("web-0", HttpStatusCode.Created), ("web-1", HttpStatusCode.Created), ("web-2", HttpStatusCode.TooManyRequests) })
        {
            using var r = await http.PostAsync($"/api/v1/namespaces/default/pods/{pod}/eviction", new StringContent(
                $$$"""{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"{{{pod}}}","namespace":"default"},"deleteOptions":{"gracePeriodSeconds":0}}""",
                Encoding.UTF8, "application/json"));
            Assert.Equal(code, r.StatusCode);
        }
        Assert.Equal(2, c.Server.MaxUnavailable("default/half"));
        var budgets = await GetAsync("/apis/policy/v1/poddisruptionbudgets");
        Assert.Equal("PodDisruptionBudgetList", (string?)budgets["kind"]);
        Assert.Equal(["half", "most"], budgets["items"]!.AsArray().Select(b => (string?)b!["metadata"]!["name"]));
    }
}
