using NodeFleet.Plans;

namespace NodeFleet.Tests.Plans;

public class PlanPhasesTests
{
    [Fact]
    public void Phases_in_run_order() =>
        Assert.Equal(
            ["preflight", "stage-artifacts", "containerd-config", "crio-config", "docker-config", "prepull-images",
             "install-artifacts", "kubeadm", "kubelet-config", "restart-services", "verify"],
            PlanPhases.All);

    [Fact]
    public void Prepare_phases_are_the_non_disruptive_ones()
    {
        Assert.Equal(["preflight", "stage-artifacts", "prepull-images"], PlanPhases.Prepare);
        Assert.Equal(PlanPhases.All.Count, PlanPhases.Prepare.Count + PlanPhases.Disruptive.Count);
        Assert.True(PlanPhases.IsDisruptive("restart-services"));
        Assert.False(PlanPhases.IsDisruptive("prepull-images"));
        Assert.False(PlanPhases.IsDisruptive("nonsense"));
    }

    [Theory]
    [InlineData("containerd", "preflight,stage-artifacts,containerd-config,prepull-images,install-artifacts,kubelet-config,restart-services,verify")]
    [InlineData("cri-o", "preflight,stage-artifacts,crio-config,prepull-images,install-artifacts,kubelet-config,restart-services,verify")]
    [InlineData("docker", "preflight,stage-artifacts,docker-config,prepull-images,install-artifacts,kubelet-config,restart-services")]
    public void Selected_phases_follow_the_runtime_and_skip_list(string runtime, string expected)
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Runtime.Kind = runtime;
        if (runtime == "docker") plan.Spec.SkipPhases.Add("verify");
        Assert.Equal(expected, string.Join(",", PlanPhases.Selected(plan)));
    }
}
