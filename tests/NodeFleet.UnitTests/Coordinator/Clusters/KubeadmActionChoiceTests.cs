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
}
