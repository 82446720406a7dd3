using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Plans;

public class PlanDefaultsTests
{
    [Theory]
    [InlineData("containerd", "unix:///run/containerd/containerd.sock")]
    [InlineData("cri-o", "unix:///var/run/crio/crio.sock")]
    [InlineData("docker", "unix:///var/run/docker.sock")]
    public void Endpoint_defaults_per_runtime(string kind, string endpoint)
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Runtime.Kind = kind;
        Assert.Equal(endpoint, PlanDefaults.Apply(plan).Spec.Runtime.Endpoint);
    }

    [Fact]
    public void Fills_every_default_and_keeps_what_is_set()
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Artifacts.Add(new Artifact { Name = "kubeadm", Mode = "0750" });
        PlanDefaults.Apply(plan);
        Assert.Equal("systemd", plan.Spec.Runtime.CgroupDriver);
        Assert.Equal("registry.k8s.io/pause:3.10", plan.Spec.Runtime.SandboxImage);
        Assert.Equal("0755", plan.Spec.Artifacts[0].Mode);
        Assert.Equal("0750", plan.Spec.Artifacts[1].Mode);
        Assert.Equal("20-nodefleet.conf", plan.Spec.Kubelet.DropInName);
        Assert.Empty(plan.Spec.Images); // derived at pull time, not written into the plan
    }

    [Fact]
    public void The_sandbox_image_follows_the_image_repository()
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Registry = new RegistrySpec { ImageRepository = "mirror.example:5000/k8s" };
        Assert.Equal("mirror.example:5000/k8s/pause:3.10", PlanDefaults.Apply(plan).Spec.Runtime.SandboxImage);
    }

    [Fact]
    public void Is_idempotent_and_leaves_a_valid_plan_valid()
    {
        var plan = PlanTestData.Load("valid-full.yaml").Plan!;
        var once = PlanDefaults.Apply(plan.Clone());
        var twice = PlanDefaults.Apply(once.Clone());
        Assert.Equal(once, twice);
        Assert.Empty(PlanValidator.Validate(once));
        Assert.Equal("mirror.example:5000/k8s/pause:3.10", once.Spec.Runtime.SandboxImage);
    }

    [Fact]
    public void Does_not_throw_on_a_plan_it_cannot_complete()
    {
        var plan = new NodePlan { Spec = new NodePlanSpec { KubernetesVersion = "v9.0.0" } };
        PlanDefaults.Apply(plan);
        Assert.Equal("", plan.Spec.Runtime.SandboxImage);
        Assert.Equal("", plan.Spec.Runtime.Endpoint);
    }
}
