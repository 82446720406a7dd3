using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Cli;

public class PlanDiffViewTests
{
    private static DryRunStep Step(string phase, string step, string outcome, params string[] actions)
    {
        var s = new DryRunStep { Phase = phase, Step = step, Outcome = outcome };
        s.Actions.AddRange(actions);
        return s;
    }

    /// <summary>What an agent answers for a node whose containerd config is out of date and whose swap is on.</summary>
    public static DryRunResult Sample() => new()
    {
        RequestId = "5f0c",
        Steps =
        {
            Step("preflight", "checks", "blocked",
                "preflight found errors:\n\t[ERROR Swap]: swap is on; the kubelet needs it off (swapoff -a) unless configured for swap\n" +
                "ignore with --ignore-preflight-errors=Swap"),
            Step("stage-artifacts", "download-kubelet", "satisfied", "/var/cache/nodefleet/artifacts/6b1c… is cached"),
            Step("containerd-config", "write-config", "would apply",
                "would write /etc/containerd/config.toml",
                "--- /etc/containerd/config.toml\n+++ /etc/containerd/config.toml\n@@ -1,3 +1,3 @@\n version = 2\n root = \"/var/lib/containerd\"\n-SystemdCgroup = false\n+SystemdCgroup = true\n"),
            Step("kubelet-config", "write-dropin", "would apply",
                "would write /etc/systemd/system/kubelet.service.d/10-nodefleet.conf",
                "--- /dev/null\n+++ /etc/systemd/system/kubelet.service.d/10-nodefleet.conf\n@@ -0,0 +1,2 @@\n+[Service]\n+Environment=\"KUBELET_EXTRA_ARGS=--max-pods=110\"\n"),
            Step("restart-services", "daemon-reload", "would apply", "would run systemctl daemon-reload"),
            Step("restart-services", "restart-containerd", "would apply", "would restart containerd"),
            Step("verify", "kubelet-active", "satisfied"),
        },
    };

    [Fact]
    public void Each_step_is_one_line_and_diffs_follow_their_file_indented()
    {
        Assert.Equal("""
            [preflight/checks] blocked: preflight found errors:
                [ERROR Swap]: swap is on; the kubelet needs it off (swapoff -a) unless configured for swap
                ignore with --ignore-preflight-errors=Swap
            [stage-artifacts/download-kubelet] satisfied: /var/cache/nodefleet/artifacts/6b1c… is cached
            [containerd-config/write-config] would write /etc/containerd/config.toml
                --- /etc/containerd/config.toml
                +++ /etc/containerd/config.toml
                @@ -1,3 +1,3 @@
                 version = 2
                 root = "/var/lib/containerd"
                -SystemdCgroup = false
                +SystemdCgroup = true
            [kubelet-config/write-dropin] would write /etc/systemd/system/kubelet.service.d/10-nodefleet.conf
                --- /dev/null
                +++ /etc/systemd/system/kubelet.service.d/10-nodefleet.conf
                @@ -0,0 +1,2 @@
                +[Service]
                +Environment="KUBELET_EXTRA_ARGS=--max-pods=110"
            [restart-services/daemon-reload] would run systemctl daemon-reload
            [restart-services/restart-containerd] would restart containerd
            [verify/kubelet-active] satisfied

            """, PlanViews.Diff(Sample()));
    }

    [Fact]
    public void Diff_lines_are_kept_verbatim_after_the_indent()
    {
        var result = new DryRunResult { Steps = { Step("p", "w", "would apply", "would write /x", "--- /x\n+++ /x\n@@ -1,2 +1,2 @@\n \n-a\n+b\n") } };
        Assert.Equal("[p/w] would write /x\n    --- /x\n    +++ /x\n    @@ -1,2 +1,2 @@\n     \n    -a\n    +b\n", PlanViews.Diff(result));
    }

    [Fact]
    public void A_step_without_actions_shows_its_outcome()
    {
        var result = new DryRunResult { Steps = { Step("p", "a", "would apply"), Step("p", "b", "blocked"), Step("p", "c", "") } };
        Assert.Equal("[p/a] would apply\n[p/b] blocked\n[p/c] unknown\n", PlanViews.Diff(result));
    }

    [Fact]
    public void No_steps_is_no_output() => Assert.Equal("", PlanViews.Diff(new DryRunResult { Error = "no runtime" }));

    [Fact]
    public void Sent_names_plan_generation_and_node() =>
        Assert.Equal("plan upgrade-1.31 generation 3 sent to node worker-1",
            PlanViews.Sent(new ApplyPlanResponse { PlanName = "upgrade-1.31", Generation = 3, Digest = "sha256:ab", Node = "worker-1" }));
}
