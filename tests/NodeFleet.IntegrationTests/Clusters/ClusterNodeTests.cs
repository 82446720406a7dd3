using System.Text;
using k8s;
using k8s.Models;
using NodeFleet.Coordinator.Clusters;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.IntegrationTests.Infrastructure.KubeApi;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests.Clusters;

/// <summary>
/// The coordinator's Kubernetes side against the Kubernetes API test server (KubeApiServerFidelityTests proves it
/// faithful with kubectl): the connection and probe, the Node view, cordon/uncordon ownership, wait-ready, and the
/// ClusterRole file parsed by kubectl.
/// </summary>
public sealed class ClusterNodeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Probe_reports_version_and_nodes_and_the_connection_never_shows_its_token()
    {
        await using var c = await KubeCluster.StartAsync("1.31.4");
        c.Server.AddNode("cp-1", controlPlane: true);
        c.Server.AddNode("w-1");

        var status = await ClusterProbe.ProbeAsync(c.Connection.Client);
        Assert.Equal(new ClusterStatus(true, "v1.31.4", 2, null), status);
        Assert.DoesNotContain(c.Server.Token, c.Connection.ToString());
        Assert.Contains(c.Server.Url, c.Connection.ToString());

        // A wrong token: unreachable with the API server's reason, and the token is nowhere in it.
        var kubeconfig = (await File.ReadAllTextAsync(c.Kubeconfig)).Replace(c.Server.Token, "0badc0ffee");
        using var wrong = ClusterConnection.FromKubeconfig("wrong", Encoding.UTF8.GetBytes(kubeconfig));
        var refused = await ClusterProbe.ProbeAsync(wrong.Client);
        Assert.False(refused.Reachable);
        Assert.Contains("401", refused.Error);

        // A kubeconfig without the asked context, and one that is not YAML: named errors that never quote the file.
        var noContext = Assert.Throws<ClusterConfigException>(() =>
            ClusterConnection.FromKubeconfig("c1", File.ReadAllBytes(c.Kubeconfig), context: "prod"));
        Assert.Contains("cluster c1", noContext.Message);
        Assert.DoesNotContain(c.Server.Token, noContext.Message);
        var broken = Assert.Throws<ClusterConfigException>(() =>
            ClusterConnection.FromKubeconfig("c2", Encoding.UTF8.GetBytes($"users: [{{token: {c.Server.Token}")));
        Assert.DoesNotContain(c.Server.Token, broken.Message);
        output.WriteLine($"{noContext.Message}\n{broken.Message}");
    }

    [Fact]
    public async Task Node_view_shows_ready_kubelet_version_schedulable_and_roles()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("cp-1", kubeletVersion: "v1.31.4", controlPlane: true);
        c.Server.AddNode("w-1", kubeletVersion: "v1.30.8", ready: false, labels: new Dictionary<string, string> { ["node-role.kubernetes.io/gpu"] = "" });

        var cpView = (await NodeView.ReadAsync(c.Connection.Client, "cp-1"))!;
        Assert.Equal(("True", "v1.31.4", true), (cpView.Ready, cpView.KubeletVersion, cpView.Schedulable));
        Assert.Equal(["control-plane"], cpView.Roles);
        Assert.True(cpView.IsControlPlane);
        var w = (await NodeView.ReadAsync(c.Connection.Client, "w-1"))!;
        Assert.Equal(("False", "v1.30.8", true, false), (w.Ready, w.KubeletVersion, w.Schedulable, w.IsReady));
        Assert.Equal(["gpu"], w.Roles);
        Assert.Null(await NodeView.ReadAsync(c.Connection.Client, "absent"));
    }

    [Fact]
    public async Task Uncordon_undoes_only_a_cordon_NodeFleet_made_and_a_node_cordoned_by_someone_else_stays_cordoned()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("ours");
        c.Server.AddNode("theirs");
        // Someone else (an operator's kubectl cordon) cordoned "theirs" before NodeFleet came.
        await c.Connection.Client.CoreV1.PatchNodeAsync(
            new V1Patch("{\"spec\":{\"unschedulable\":true}}", V1Patch.PatchType.MergePatch), "theirs");

        var ours = await Cordon.CordonAsync(c.Connection.Client, "ours", TimeProvider.System);
        var theirs = await Cordon.CordonAsync(c.Connection.Client, "theirs", TimeProvider.System);
        Assert.True(ours.CordonedByUs);
        Assert.False(theirs.CordonedByUs);
        Assert.True(c.Server.IsUnschedulable("ours"));
        Assert.True(c.Server.IsUnschedulable("theirs"));

        // After a restart the persisted record is passed back: cordoning again changes neither node nor answer.
        var again = await Cordon.CordonAsync(c.Connection.Client, "ours", TimeProvider.System, earlier: ours);
        Assert.Equal(ours, again);
        var patchesBefore = c.Server.Record.Count(e => e.Action == KubeApiActions.PatchNode);

        var undone = await Cordon.UncordonAsync(c.Connection.Client, ours);
        var kept = await Cordon.UncordonAsync(c.Connection.Client, theirs);
        Assert.True(undone.Uncordoned);
        Assert.False(kept.Uncordoned);
        Assert.Contains("left cordoned", kept.Reason);
        Assert.False(c.Server.IsUnschedulable("ours"));
        Assert.True(c.Server.IsUnschedulable("theirs"));
        // From the record: one patch for NodeFleet's uncordon, none for the other node's.
        var after = c.Server.Record.Where(e => e.Action == KubeApiActions.PatchNode).Skip(patchesBefore).ToList();
        Assert.Equal(["node/ours"], after.Select(e => e.Target));
        Assert.Empty(c.Server.Unserved);
    }

    [Fact]
    public async Task Wait_ready_passes_when_the_node_is_ready_at_the_target_version_and_fails_at_its_deadline()
    {
        await using var c = await KubeCluster.StartAsync();
        c.Server.AddNode("w-1", kubeletVersion: "v1.30.8", ready: false);
        c.Server.AddNode("w-2", kubeletVersion: "v1.30.8", ready: false);
        var fast = TimeSpan.FromMilliseconds(100);

        // The restarted kubelet reports Ready at the old version first, then the new one.
        var kubelet = Task.Run(async () =>
        {
            await Task.Delay(300);
            c.Server.SetNodeReady("w-1", true);
            await Task.Delay(300);
            c.Server.SetKubeletVersion("w-1", "v1.31.4");
        });
        var ready = await NodeReadiness.WaitReadyAsync(c.Connection.Client, "w-1", "v1.31.4", TimeSpan.FromSeconds(10), fast);
        await kubelet;
        Assert.True(ready.Ready, ready.Reason);
        Assert.True(ready.Waited >= TimeSpan.FromMilliseconds(550), $"passed after {ready.Waited}, before the version changed");

        // Ready, but never at the target version: the deadline passes, with what was seen last.
        c.Server.SetNodeReady("w-2", true);
        var late = await NodeReadiness.WaitReadyAsync(c.Connection.Client, "w-2", "v1.31.4", TimeSpan.FromSeconds(1), fast);
        Assert.False(late.Ready);
        Assert.InRange(late.Waited, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        Assert.Contains("not Ready at v1.31.4 within", late.Reason);
        Assert.Contains("kubelet v1.30.8", late.Reason);
        output.WriteLine(late.Reason);
    }

    [Fact]
    public async Task Kubectl_parses_the_shipped_cluster_role()
    {
        await using var c = await KubeCluster.StartAsync("1.33.1");
        var file = Path.Combine(Binaries.RepoRoot, "packaging", "kubernetes", "nodefleet-clusterrole.yaml");
        var result = await Proc.RunAsync("/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
            ["--kubeconfig", c.Kubeconfig, "--cache-dir", c.Dir.Combine("cache"), "create", "--dry-run=client", "--validate=false", "-o", "yaml", "-f", file],
            new Dictionary<string, string> { ["HOME"] = c.Dir.Path }, TimeSpan.FromSeconds(60));
        output.WriteLine(result.ToString());
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("kind: ClusterRole", result.StdOut);
        Assert.Contains("name: nodefleet-coordinator", result.StdOut);
        foreach (var expected in new[] { "pods/eviction", "poddisruptionbudgets", "- patch", "- delete", "- create" })
            Assert.Contains(expected, result.StdOut);
    }
}
