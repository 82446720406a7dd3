using NodeFleet.Coordinator.Clusters;

namespace NodeFleet.Tests.Coordinator.Clusters;

/// <summary>The version skew rules as values: each rule breaks with its reason, and a legal upgrade passes.</summary>
public sealed class VersionSkewTests
{
    private static readonly SkewNode Cp = new("cp-1", true, "v1.31.4");
    private static readonly SkewNode Worker = new("w-1", false, "v1.31.4");

    [Fact]
    public void One_minor_up_with_the_control_plane_in_the_upgrade_passes()
    {
        Assert.Empty(VersionSkew.CheckUpgrade("v1.31.4", "v1.32.0", [Worker, Cp]));
        Assert.Empty(VersionSkew.CheckUpgrade("1.31.4", "v1.31.9", [Worker]));   // a patch upgrade of workers alone
        Assert.Empty(VersionSkew.CheckUpgrade("v1.31.4+k3s1", "v1.32.1", [Cp with { KubeletVersion = "v1.31.4-eks-1552ad0" }]));
    }

    [Fact]
    public void Kubeadm_upgrades_one_minor_at_a_time_and_never_down()
    {
        var skip = Assert.Single(VersionSkew.CheckUpgrade("v1.30.2", "v1.32.0", [Cp with { KubeletVersion = "v1.30.2" }, Worker with { KubeletVersion = "v1.30.2" }]),
            v => v.Node is null);
        Assert.Equal(VersionSkew.OneMinorAtATime, skip.Rule);
        Assert.Equal("kubeadm upgrades one minor at a time: the API server is at v1.30.2, so the target may be v1.30 or v1.31, not v1.32.0", skip.Reason);

        var cpBehind = VersionSkew.CheckUpgrade("v1.31.0", "v1.32.0", [Cp with { KubeletVersion = "v1.30.5" }]);
        Assert.Equal("cp-1: one-minor-at-a-time: kubeadm upgrades one minor at a time: this control-plane node is at v1.30.5, so it may go to v1.31, not v1.32.0",
            Assert.Single(cpBehind).ToString());

        var down = VersionSkew.CheckUpgrade("v1.31.4", "v1.30.9", [Worker]);
        Assert.Contains(down, v => v.Node is null && v.Reason.Contains("downgrade", StringComparison.Ordinal));
        Assert.Contains(down, v => v.Node == "w-1" && v.Reason.Contains("newer than the target v1.30.9", StringComparison.Ordinal));
    }

    [Fact]
    public void A_kubelet_is_never_newer_than_the_api_server_so_workers_alone_cannot_move_a_minor()
    {
        var v = Assert.Single(VersionSkew.CheckUpgrade("v1.31.4", "v1.32.0", [Worker]));
        Assert.Equal(("w-1", VersionSkew.KubeletNotNewer), (v.Node, v.Rule));
        Assert.Equal("its kubelet would be at v1.32.0, newer than the API server's v1.31: upgrade the control plane first", v.Reason);
    }

    [Fact]
    public void The_control_plane_goes_before_the_workers()
    {
        Assert.Equal(["cp-1", "cp-2", "w-1", "w-2"],
            VersionSkew.Order([Worker with { Name = "w-2" }, Cp with { Name = "cp-2" }, Worker, Cp]).Select(n => n.Name));
        // Mid-rollout: a worker waits until the API server reports the target minor; a control-plane node does not.
        var early = VersionSkew.CheckNodeStep(Worker, "v1.31.4", "v1.32.0");
        Assert.Equal(VersionSkew.ControlPlaneFirst, early?.Rule);
        Assert.Contains("the API server is still at v1.31.4", early!.Reason);
        Assert.Null(VersionSkew.CheckNodeStep(Cp, "v1.31.4", "v1.32.0"));
        Assert.Null(VersionSkew.CheckNodeStep(Worker, "v1.32.0", "v1.32.0"));
    }

    [Fact]
    public void Versions_that_do_not_parse_are_named()
    {
        Assert.Equal("unknown-version: the target version 'latest' does not parse", Assert.Single(VersionSkew.CheckUpgrade("v1.31.4", "latest", [Worker])).ToString());
        Assert.Equal("w-1: unknown-version: its kubelet version '' does not parse",
            Assert.Single(VersionSkew.CheckUpgrade("v1.31.4", "v1.31.5", [Worker with { KubeletVersion = "" }])).ToString());
    }
}
