using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests.Clusters;

/// <summary>
/// One real coordinator and one Kubernetes API test server (standing in for kube-apiserver: token auth over TLS),
/// shared by the tests of <see cref="ClusterCommandTests"/>; each test registers clusters of its own names.
/// </summary>
public sealed class ClusterCommandFixture : IAsyncLifetime
{
    public TestCluster Fleet { get; private set; } = null!;
    public KubeApiServer Kube { get; private set; } = null!;
    public string Kubeconfig { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Kube = await KubeApiServer.StartAsync("1.31.4");
        Fleet = await TestCluster.StartAsync();
        Kubeconfig = Kube.WriteKubeconfig(Path.Combine(Fleet.Scratch, "kubeconfig"));
    }

    public async Task DisposeAsync()
    {
        await Fleet.DisposeAsync();
        await Kube.DisposeAsync();
    }
}

/// <summary>
/// `nodefleet cluster add|list|remove`, `nodefleet-agent join --cluster` and the Kubernetes columns of `nodes -o wide`
/// and `node describe`, through the real CLI, coordinator and agents; the Kubernetes API test server is the cluster.
/// </summary>
public sealed class ClusterCommandTests(ClusterCommandFixture f, ITestOutputHelper output) : IClassFixture<ClusterCommandFixture>
{
    private TestCluster Fleet => f.Fleet;

    [Fact]
    public async Task Cluster_add_list_and_remove_show_the_server_and_never_the_token()
    {
        f.Kube.AddNode("cp-a", controlPlane: true);
        var add = await Fleet.CliAsync("cluster", "add", "alpha", "--kubeconfig", f.Kubeconfig);
        output.WriteLine(add.ToString());
        Assert.True(add.ExitCode == 0, add.ToString());
        Assert.Contains($"cluster alpha added: {f.Kube.Url} (context test), Kubernetes v1.31.4", add.StdOut);
        Assert.Equal("", add.StdErr);

        var table = await Fleet.CliOkAsync("cluster", "list");
        output.WriteLine(table);
        var row = table.Split('\n').Single(l => l.StartsWith("alpha ", StringComparison.Ordinal));
        var cells = row.Split("   ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["alpha", f.Kube.Url, "test", "yes", "v1.31.4"], cells[..5]);
        Assert.True(int.Parse(cells[5]) >= 1, row);

        var json = await Fleet.CliOkAsync("cluster", "list", "-o", "json");
        using (var doc = JsonDocument.Parse(json))
        {
            var alpha = doc.RootElement.GetProperty("items").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "alpha");
            Assert.True(alpha.GetProperty("reachable").GetBoolean());
            Assert.Equal("v1.31.4", alpha.GetProperty("serverVersion").GetString());
            Assert.Equal(f.Kube.Url, alpha.GetProperty("server").GetString());
            Assert.Equal(0, alpha.GetProperty("linkedNodes").GetInt32());
        }
        var yaml = await Fleet.CliOkAsync("cluster", "list", "-o", "yaml");
        Assert.Contains("name: alpha", yaml);

        // The same name again is refused; a name that is no DNS label is refused before connecting.
        var again = await Fleet.CliAsync("cluster", "add", "alpha", "--kubeconfig", f.Kubeconfig);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("cluster alpha already exists", again.StdErr);
        var badName = await Fleet.CliAsync("cluster", "add", "Alpha_1", "--kubeconfig", f.Kubeconfig);
        Assert.NotEqual(0, badName.ExitCode);
        Assert.Contains("cluster name 'Alpha_1'", badName.StdErr);

        Assert.Contains("cluster alpha removed", await Fleet.CliOkAsync("cluster", "remove", "alpha"));
        var gone = await Fleet.CliAsync("cluster", "remove", "alpha");
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("cluster alpha not found", gone.StdErr);

        foreach (var text in new[] { add.All, table, json, yaml, again.All, Fleet.Coordinator!.Output })
            Assert.DoesNotContain(f.Kube.Token, text);
    }

    [Fact]
    public async Task A_kubeconfig_that_is_not_usable_is_refused_and_an_unreachable_server_is_a_warning_naming_the_cluster()
    {
        var noContext = await Fleet.CliAsync("cluster", "add", "beta", "--kubeconfig", f.Kubeconfig, "--context", "prod");
        output.WriteLine(noContext.ToString());
        Assert.NotEqual(0, noContext.ExitCode);
        Assert.Contains("cluster beta", noContext.StdErr);
        Assert.Contains("prod", noContext.StdErr);

        var broken = Path.Combine(Fleet.Scratch, "broken-kubeconfig");
        await File.WriteAllTextAsync(broken, $"users: [{{token: {f.Kube.Token}");
        var notYaml = await Fleet.CliAsync("cluster", "add", "beta", "--kubeconfig", broken);
        output.WriteLine(notYaml.ToString());
        Assert.NotEqual(0, notYaml.ExitCode);
        Assert.Contains("cluster beta", notYaml.StdErr);

        var missing = await Fleet.CliAsync("cluster", "add", "beta", "--kubeconfig", Path.Combine(Fleet.Scratch, "nope"));
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("--kubeconfig", missing.StdErr);

        // A server nobody answers at: stored, with a warning that names the cluster and the reason.
        var closed = Path.Combine(Fleet.Scratch, "closed-kubeconfig");
        await File.WriteAllTextAsync(closed, (await File.ReadAllTextAsync(f.Kubeconfig)).Replace(f.Kube.Url, $"https://127.0.0.1:{Proc.FreePort()}"));
        var unreachable = await Fleet.CliAsync("cluster", "add", "gamma", "--kubeconfig", closed);
        output.WriteLine(unreachable.ToString());
        Assert.True(unreachable.ExitCode == 0, unreachable.ToString());
        Assert.Contains("warning: cluster gamma added, but its API server", unreachable.StdErr);

        var row = (await Fleet.CliOkAsync("cluster", "list")).Split('\n').Single(l => l.StartsWith("gamma ", StringComparison.Ordinal));
        Assert.Contains("   no   ", row);

        // A wrong token: the server answers 401, which the list shows.
        var wrongToken = Path.Combine(Fleet.Scratch, "wrong-token-kubeconfig");
        await File.WriteAllTextAsync(wrongToken, (await File.ReadAllTextAsync(f.Kubeconfig)).Replace(f.Kube.Token, "0badc0ffee0badc0ffee"));
        var refused = await Fleet.CliAsync("cluster", "add", "delta", "--kubeconfig", wrongToken);
        Assert.Contains("warning: cluster delta added", refused.StdErr);
        Assert.Contains("401", refused.StdErr);

        await Fleet.CliOkAsync("cluster", "remove", "gamma");
        await Fleet.CliOkAsync("cluster", "remove", "delta");
        foreach (var text in new[] { noContext.All, notYaml.All, unreachable.All, Fleet.Coordinator!.Output })
            Assert.DoesNotContain(f.Kube.Token, text);
    }

    [Fact]
    public async Task Join_with_cluster_links_the_node_and_nodes_wide_shows_its_kubernetes_node()
    {
        output.WriteLine(await Fleet.CliOkAsync("cluster", "add", "prod", "--kubeconfig", f.Kubeconfig));
        f.Kube.AddNode("prod-1", kubeletVersion: "v1.31.4");
        // The second node's kubelet names its Node with --hostname-override, which its agent reports.
        f.Kube.AddNode("k8s-prod-2", kubeletVersion: "v1.30.8", ready: false);

        await Fleet.JoinedOnlineAgentAsync("prod-1", "--cluster", "prod");
        var (token, hash) = await Fleet.CreateTokenAsync();
        var second = Fleet.NewAgent("prod-2");
        var flags = second.HostPath("/var/lib/kubelet/kubeadm-flags.env");
        Directory.CreateDirectory(Path.GetDirectoryName(flags)!);
        await File.WriteAllTextAsync(flags, "KUBELET_KUBEADM_ARGS=\"--hostname-override=k8s-prod-2 --node-ip=10.0.0.12\"\n");
        var join = await second.JoinAsync(["--token", token, "--ca-cert-hash", hash, "--node-name", "prod-2", "--cluster", "prod", Fleet.Address]);
        Assert.True(join.ExitCode == 0, join.ToString());

        var wide = await Fleet.CliOkAsync("nodes", "-o", "wide", "-l", "nodefleet.io/cluster=prod");
        output.WriteLine(wide);
        var header = Cells(wide.Split('\n')[0]);
        string Cell(string node, string column) =>
            Cells(wide.Split('\n').Single(l => l.StartsWith(node + " ", StringComparison.Ordinal)))[Array.IndexOf(header, column)];
        Assert.Equal(("prod", "Ready", "v1.31.4", "true"), (Cell("prod-1", "CLUSTER"), Cell("prod-1", "READY"), Cell("prod-1", "KUBELET"), Cell("prod-1", "SCHEDULABLE")));
        Assert.Equal(("NotReady", "v1.30.8"), (Cell("prod-2", "READY"), Cell("prod-2", "KUBELET")));

        // The test server moves on (a kubelet upgraded, a node Ready again): the next list shows it.
        f.Kube.SetNodeReady("k8s-prod-2", true);
        f.Kube.SetKubeletVersion("k8s-prod-2", "v1.31.4");
        wide = await Fleet.CliOkAsync("nodes", "-o", "wide", "-l", "nodefleet.io/cluster=prod");
        Assert.Equal(("Ready", "v1.31.4"), (Cell("prod-2", "READY"), Cell("prod-2", "KUBELET")));

        var describe = await Fleet.CliOkAsync("node", "describe", "prod-2");
        output.WriteLine(describe);
        Assert.Matches(@"Kubelet hostname override:\s+k8s-prod-2", describe);
        Assert.Matches(@"\n  Node:\s+k8s-prod-2\n", describe);
        Assert.Matches(@"\n  Ready:\s+Ready\n", describe);

        var linked = (await Fleet.CliOkAsync("cluster", "list")).Split('\n').Single(l => l.StartsWith("prod ", StringComparison.Ordinal));
        Assert.Equal("2", Cells(linked)[6]);
        var refused = await Fleet.CliAsync("cluster", "remove", "prod");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("cluster prod is still named by 2 node(s): prod-1, prod-2", refused.StdErr);
        Assert.Contains("--force", refused.StdErr);

        // A cluster that stops answering shows as such in the list; the command still succeeds.
        var closed = Path.Combine(Fleet.Scratch, "gone-kubeconfig");
        await File.WriteAllTextAsync(closed, (await File.ReadAllTextAsync(f.Kubeconfig)).Replace(f.Kube.Url, $"https://127.0.0.1:{Proc.FreePort()}"));
        var goneAdd = await Fleet.CliAsync("cluster", "add", "gone", "--kubeconfig", closed);
        output.WriteLine(goneAdd.ToString());
        await Fleet.CliOkAsync("node", "label", "prod-1", "nodefleet.io/cluster=gone", "--overwrite");
        output.WriteLine(await Fleet.CliOkAsync("cluster", "list"));
        wide = await Fleet.CliOkAsync("nodes", "-o", "wide", "-l", "nodefleet.io/cluster");
        output.WriteLine(wide);
        Assert.Equal(("gone", "<unreachable>"), (Cell("prod-1", "CLUSTER"), Cell("prod-1", "READY")));
        Assert.Equal("Ready", Cell("prod-2", "READY"));

        var removed = await Fleet.CliAsync("cluster", "remove", "gone", "--force");
        Assert.True(removed.ExitCode == 0, removed.ToString());
        Assert.Contains("prod-1", removed.StdErr);
        Assert.DoesNotContain(f.Kube.Token, Fleet.Coordinator!.Output);
    }

    [Fact]
    public async Task A_kubeconfig_made_with_kubectl_config_as_the_readme_says_is_accepted()
    {
        // README "Clusters": a ServiceAccount token and the cluster's CA, put together by the real kubectl.
        var ca = Path.Combine(Fleet.Scratch, "ca.crt");
        await File.WriteAllTextAsync(ca, f.Kube.CaPem);
        var kubeconfig = Path.Combine(Fleet.Scratch, "nodefleet.kubeconfig");
        string[][] steps =
        [
            ["set-cluster", "staging", $"--server={f.Kube.Url}", $"--certificate-authority={ca}", "--embed-certs=true"],
            ["set-credentials", "nodefleet", $"--token={f.Kube.Token}"],
            ["set-context", "nodefleet@staging", "--cluster=staging", "--user=nodefleet"],
            ["use-context", "nodefleet@staging"],
        ];
        foreach (var step in steps)
        {
            var r = await Proc.RunAsync("kubectl", ["config", $"--kubeconfig={kubeconfig}", .. step]);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        var add = await Fleet.CliAsync("cluster", "add", "staging", "--kubeconfig", kubeconfig);
        Assert.True(add.ExitCode == 0, add.ToString());
        Assert.Contains($"cluster staging added: {f.Kube.Url} (context nodefleet@staging), Kubernetes v1.31.4", add.StdOut);
        await Fleet.CliOkAsync("cluster", "remove", "staging");
    }

    private static string[] Cells(string line) => line.Split("   ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
