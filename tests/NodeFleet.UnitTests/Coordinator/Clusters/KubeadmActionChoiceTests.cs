using NodeFleet.Coordinator.Clusters;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Coordinator.Clusters;

/// <summary>What the coordinator asks a node's kubeadm phase to run, from the plan's spec.kubeadm.</summary>
public sealed class KubeadmActionChoiceTests
{
    [Theory]
    [InlineData(null, "")]
    [InlineData("join", "join")]
    [InlineData("upgrade", "upgrade-node")]
    public void The_action_follows_the_plans_mode(string? mode, string action)
    {
        var plan = new NodePlan { Spec = new NodePlanSpec { Kubeadm = mode is null ? null : new KubeadmSpec { Mode = mode } } };
        Assert.Equal(action, KubeadmActionChoice.For(plan));
    }

    [Fact]
    public void A_control_plane_Node_at_the_version_other_than_those_excepted_means_the_control_plane_has_moved()
    {
        NodeView Node(string name, string version, bool controlPlane) => new(name, "True", version, true, controlPlane ? ["control-plane"] : []);
        var except = new HashSet<string> { "cp1" };
        Assert.False(KubeadmActionChoice.ControlPlaneReached([Node("cp1", "v1.31.5", true), Node("w1", "v1.31.5", false), Node("cp2", "v1.31.4", true)], except, "v1.31.5"));
        Assert.True(KubeadmActionChoice.ControlPlaneReached([Node("cp1", "v1.31.4", true), Node("cp2", "v1.31.5", true)], except, "1.31.5"));
    }
}
