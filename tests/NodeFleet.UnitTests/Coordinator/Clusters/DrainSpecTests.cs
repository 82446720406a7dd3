using NodeFleet.Coordinator.Clusters;

namespace NodeFleet.Tests.Coordinator.Clusters;

/// <summary>spec.drain's defaults and the messages of its validation.</summary>
public sealed class DrainSpecTests
{
    [Fact]
    public void Defaults_are_the_issues()
    {
        var d = DrainSpec.Default;
        Assert.Equal((TimeSpan.FromMinutes(15), null, false, null, null, DrainOnTimeout.Fail, false),
            (d.Timeout, d.GracePeriodSeconds, d.DeleteEmptyDirData, d.PodSelector, d.SkipWaitForDeleteTimeout, d.OnTimeout, d.Force));
        Assert.Empty(d.Validate());
    }

    [Theory]
    [InlineData("app=web")]
    [InlineData("app==web,tier!=db")]
    [InlineData("!canary")]
    [InlineData("tier in (api, web),env notin (dev)")]
    [InlineData("example.com/team=infra")]
    public void Label_selectors_the_api_server_takes_are_valid(string selector) =>
        Assert.Empty((DrainSpec.Default with { PodSelector = selector }).Validate());

    [Fact]
    public void Each_problem_names_its_field()
    {
        var errors = (DrainSpec.Default with
        {
            Timeout = TimeSpan.Zero, GracePeriodSeconds = -1, SkipWaitForDeleteTimeout = TimeSpan.FromSeconds(-5), PodSelector = "app=web,=x",
        }).Validate("plan.yaml: spec.drain");
        Assert.Equal([
            "plan.yaml: spec.drain.timeout: must be positive, got 00:00:00",
            "plan.yaml: spec.drain.gracePeriod: must be 0 or more seconds (leave it out for the pod's own), got -1",
            "plan.yaml: spec.drain.skipWaitForDeleteTimeout: must be positive (leave it out to wait for every pod), got -00:00:05",
            "plan.yaml: spec.drain.podSelector: '=x' is not a label selector requirement (key, !key, key=value, key!=value, key in (a,b), key notin (a,b))",
        ], errors);
        Assert.Equal("spec.drain.podSelector: 'app$' is not a valid label value",
            Assert.Single((DrainSpec.Default with { PodSelector = "tier=app$" }).Validate()));
    }

    [Fact]
    public void An_unset_spec_drain_maps_to_the_defaults()
    {
        Assert.Equal(DrainSpec.Default, DrainSpec.FromProto(null));
        Assert.Equal(DrainSpec.Default, DrainSpec.FromProto(new NodeFleet.Protocol.V1.DrainSpec()));
    }

    [Fact]
    public void A_plans_spec_drain_maps_field_by_field()
    {
        var plan = NodeFleet.Plans.PlanLoader.Load("""
            apiVersion: nodefleet.io/v1
            kind: NodePlan
            metadata: {name: p}
            spec:
              kubernetesVersion: v1.31.2
              runtime: {kind: containerd}
              drain: {timeout: 5m, gracePeriod: 1m, deleteEmptyDirData: true, podSelector: app=web, skipWaitForDeleteTimeout: 30s, onTimeout: delete, force: true}
            """).Plan!;
        Assert.Equal(new DrainSpec
        {
            Timeout = TimeSpan.FromMinutes(5), GracePeriodSeconds = 60, DeleteEmptyDirData = true, PodSelector = "app=web",
            SkipWaitForDeleteTimeout = TimeSpan.FromSeconds(30), OnTimeout = DrainOnTimeout.Delete, Force = true,
        }, DrainSpec.FromProto(plan.Spec.Drain));
    }
}
