using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;
using static NodeFleet.Tests.Cli.CliSamples;

namespace NodeFleet.Tests.Cli;

/// <summary>The cluster list table and the Kubernetes columns of `nodes -o wide` and `node describe`.</summary>
public sealed class ClusterViewsTests
{
    [Fact]
    public void Cluster_list_shows_reachable_and_unreachable_clusters_and_escapes_the_error()
    {
        var table = ClusterViews.List(
        [
            new KubeCluster { Name = "prod", Server = "https://10.0.0.1:6443", Context = "nodefleet@prod", Reachable = true, ServerVersion = "v1.31.4", NodeCount = 3, LinkedNodes = 2, AddedAt = Ago(TimeSpan.FromHours(2)) },
            new KubeCluster { Name = "dev", Server = "https://10.0.0.2:6443", Reachable = false, Error = "401 Unauthorized\u001b[2J", AddedAt = Ago(TimeSpan.FromMinutes(5)) },
        ], Now).Render();
        var lines = table.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^NAME\s+SERVER\s+CONTEXT\s+REACHABLE\s+VERSION\s+NODES\s+LINKED\s+AGE\s+ERROR$", lines[0]);
        Assert.Matches(@"^dev\s+https://10\.0\.0\.2:6443\s+-\s+no\s+-\s+-\s+0\s+5m\s+401 Unauthorized\\x1b\[2J$", lines[1]);
        Assert.Matches(@"^prod\s+https://10\.0\.0\.1:6443\s+nodefleet@prod\s+yes\s+v1\.31\.4\s+3\s+2\s+2h\s+-$", lines[2]);
    }

    [Fact]
    public void Nodes_wide_shows_the_kubernetes_node_or_why_not()
    {
        var views = new Dictionary<string, KubeNodeView>
        {
            ["a"] = new() { Cluster = "prod", Reachable = true, Found = true, Ready = "True", KubeletVersion = "v1.31.4", Schedulable = false, Roles = { "control-plane" } },
            ["b"] = new() { Cluster = "prod", Reachable = true, Found = false },
            ["c"] = new() { Cluster = "gone", Reachable = false, Error = "cluster gone: connection refused" },
            ["d"] = new() { Cluster = "prod", Reachable = true, Found = true, Ready = "", Schedulable = true },
        };
        Node[] nodes = [new() { Name = "a" }, new() { Name = "b" }, new() { Name = "c" }, new() { Name = "d" }, new() { Name = "e" }];
        var table = NodeViews.List(nodes, Now, wide: true, views);
        string Cell(string node, string column) => table.Rows.Single(r => r[0] == node)[table.Headers.ToList().IndexOf(column)];

        Assert.Equal(["prod", "Ready", "v1.31.4", "false", "control-plane"],
            new[] { "CLUSTER", "READY", "KUBELET", "SCHEDULABLE", "ROLES" }.Select(c => Cell("a", c)));
        Assert.Equal(("<no node>", "-"), (Cell("b", "READY"), Cell("b", "KUBELET")));
        Assert.Equal(("gone", "<unreachable>"), (Cell("c", "CLUSTER"), Cell("c", "READY")));
        Assert.Equal(("Unknown", "<none>"), (Cell("d", "READY"), Cell("d", "ROLES")));
        Assert.Equal(("-", "-"), (Cell("e", "CLUSTER"), Cell("e", "READY")));
        Assert.DoesNotContain("READY", NodeViews.List(nodes, Now, wide: false).Headers);
    }

    [Fact]
    public void Node_describe_has_a_kubernetes_section_only_for_a_node_in_a_cluster()
    {
        var description = new NodeDescription { Node = new Node { Name = "a" } };
        Assert.DoesNotContain("Kubernetes:", NodeDescribeView.Render(description, Now));
        description.Kubernetes = new KubeNodeView { Cluster = "gone", KubeNodeName = "k-a", Reachable = false, Error = "cluster gone: the API server did not answer in time" };
        var text = NodeDescribeView.Render(description, Now);
        Assert.Matches(@"\nKubernetes:\n  Cluster:\s+gone\n  Node:\s+k-a\n  Ready:\s+<unreachable>\n  Error:\s+cluster gone: the API server did not answer in time\n", text);
    }
}
