using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The kubeadm stand-in holds to kubeadm's command line, and `nodefleet-agent apply` on a scratch root runs kubeadm
/// only when told which action to run.
/// </summary>
public sealed class KubeadmLocalTests
{
    [Theory]
    [InlineData("upgrade apply v1.31.2 --yes --etcd-upgrade=false", "Error: unknown flag: --etcd-upgrade=false")]
    [InlineData("upgrade apply", "Error: missing one or more required arguments. Required arguments: [version]")]
    [InlineData("upgrade apply v1.31.2", "won't proceed; the user didn't answer (Y|y) in order to continue")]
    [InlineData("upgrade node --yes", "Error: unknown flag: --yes")]
    [InlineData("upgrade plan", "Error: unknown command \"plan\" for \"kubeadm upgrade\"")]
    [InlineData("join --config", "Error: flag needs an argument: --config")]
    [InlineData("join --config /etc/kubernetes/absent.yaml", "unable to read config from \"/etc/kubernetes/absent.yaml\"")]
    [InlineData("init", "Error: unknown command \"init\" for \"kubeadm\"")]
    public async Task The_stand_in_refuses_what_kubeadm_refuses(string args, string stderr)
    {
        using var node = new NodeRoot();
        var kubeadm = new KubeadmStandIn(node);
        kubeadm.InstallAt(node);
        var r = await Proc.RunAsync(node.HostPath("/usr/bin/kubeadm"), args.Split(' '));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(stderr, r.StdErr);
        Assert.Null(node.Read("/var/lib/kubelet/config.yaml"));
    }

    [Fact]
    public async Task A_local_apply_runs_kubeadm_only_with_an_explicit_action()
    {
        using var node = new NodeRoot();
        var kubeadm = new KubeadmStandIn(node);
        kubeadm.InstallAt(node);
        var file = node.WritePlan(KubeadmPhaseTests.WithKubeadm(AgentApplyTests.Plan, "    mode: upgrade"));

        var skipped = await node.AgentAsync(["apply", file, "--dry-run", AgentApplyTests.IgnoreAbsentRuntime]);
        Assert.True(skipped.ExitCode == 0, skipped.ToString());
        Assert.Contains("[kubeadm/none] satisfied: skipped: this apply names no kubeadm action", skipped.StdOut);

        var dry = await node.AgentAsync(["apply", file, "--dry-run", "--kubeadm-action", "upgrade-apply", AgentApplyTests.IgnoreAbsentRuntime]);
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("[kubeadm/upgrade-apply] would run /usr/bin/kubeadm upgrade apply v1.31.2 --yes", dry.StdOut);

        var apply = await node.AgentAsync(["apply", file, "--kubeadm-action", "upgrade-apply", AgentApplyTests.IgnoreAbsentRuntime]);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(["upgrade apply v1.31.2 --yes"], kubeadm.Calls());
        Assert.Contains("(upgrade apply) for v1.31.2", node.Read("/var/lib/kubelet/config.yaml"));
    }
}
