using NodeFleet.Plans;

namespace NodeFleet.Tests.Plans;

public class PlanPathTests
{
    [Theory]
    [InlineData("spec", "runtime", "spec.runtime")]
    [InlineData("", "spec", "spec")]
    public void Fields(string parent, string name, string path) => Assert.Equal(path, PlanPath.Field(parent, name));

    [Theory]
    [InlineData("node-labels", "spec.kubelet.extraArgs.node-labels")]
    [InlineData("registry.k8s.io", "spec.kubelet.extraArgs[\"registry.k8s.io\"]")]
    [InlineData("a\"b", "spec.kubelet.extraArgs[\"a\\\"b\"]")]
    [InlineData("a b", "spec.kubelet.extraArgs[\"a b\"]")]
    public void Keys(string key, string path) => Assert.Equal(path, PlanPath.Key("spec.kubelet.extraArgs", key));

    [Theory]
    [InlineData("spec.artifacts[0].sha256", "spec.artifacts[0]")]
    [InlineData("spec.artifacts[0]", "spec.artifacts")]
    [InlineData("spec", "")]
    [InlineData("", "")]
    [InlineData("spec.registry.mirrors[\"registry.k8s.io\"][1]", "spec.registry.mirrors[\"registry.k8s.io\"]")]
    [InlineData("spec.registry.mirrors[\"registry.k8s.io\"]", "spec.registry.mirrors")]
    [InlineData("m[\"a\\\"[\\\"b\"]", "m")]
    public void Parents(string path, string parent) => Assert.Equal(parent, PlanPath.Parent(path));
}
