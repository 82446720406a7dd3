using System.Text.Json.Nodes;
using NodeFleet.Cli;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Plans;

/// <summary>`nodefleet plan validate|images`, run in-process: no coordinator and no config are needed.</summary>
public class PlanCommandsTests
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var env = new CliEnvironment(stdout, stderr, _ => null, "/nonexistent-home", _ => false, TimeProvider.System);
        var code = await CliApp.RunAsync(args, env);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Validate_prints_the_plan_and_its_phases()
    {
        var (code, stdout, stderr) = await Run("plan", "validate", PlanTestData.PathOf("valid-full.yaml"));
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal("plan upgrade-1.31 is valid (8 phases: preflight, stage-artifacts, containerd-config, prepull-images, " +
            "install-artifacts, kubelet-config, restart-services, verify)\n", stdout);
    }

    [Fact]
    public async Task Validate_prints_each_error_with_file_and_line_on_stderr()
    {
        var file = PlanTestData.PathOf("bad-kubelet-metachar.yaml");
        var (code, stdout, stderr) = await Run("plan", "validate", file);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        var lines = stderr.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith($"error: {file}:11: spec.kubelet.extraArgs.node-labels: value of 'node-labels' contains ';'", lines[0]);
        Assert.StartsWith($"error: {file}:13: spec.kubelet.extraArgs.--max-pods: ", lines[1]);
        Assert.StartsWith($"error: {file}:14: spec.kubelet.extraArgs.container-runtime-endpoint: ", lines[2]);
    }

    [Fact]
    public async Task Validate_reports_a_missing_file()
    {
        var (code, _, stderr) = await Run("plan", "validate", "/nonexistent/plan.yaml");
        Assert.Equal(1, code);
        Assert.StartsWith("error: /nonexistent/plan.yaml: cannot read plan", stderr);
    }

    [Fact]
    public async Task Images_prints_one_image_per_line()
    {
        using var dir = new TempDir();
        var file = dir.File("plan.yaml");
        await File.WriteAllTextAsync(file, """
            apiVersion: nodefleet.io/v1
            kind: NodePlan
            metadata: {name: p}
            spec:
              kubernetesVersion: v1.31.2
              runtime: {kind: containerd}
            """);
        var (code, stdout, stderr) = await Run("plan", "images", file);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal("""
            registry.k8s.io/kube-apiserver:v1.31.2
            registry.k8s.io/kube-controller-manager:v1.31.2
            registry.k8s.io/kube-scheduler:v1.31.2
            registry.k8s.io/kube-proxy:v1.31.2
            registry.k8s.io/coredns/coredns:v1.11.3
            registry.k8s.io/pause:3.10
            registry.k8s.io/etcd:3.5.15-0

            """, stdout);
    }

    [Fact]
    public async Task Images_as_json_and_yaml()
    {
        var file = PlanTestData.PathOf("valid-full.yaml");
        var (code, json, _) = await Run("plan", "images", file, "-o", "json");
        Assert.Equal(0, code);
        var images = JsonNode.Parse(json)!["images"]!.AsArray().Select(i => (string)i!).ToList();
        Assert.Equal(7, images.Count);
        Assert.Equal("mirror.example:5000/k8s/coredns:v1.11.3", images[4]);

        var (_, yaml, _) = await Run("plan", "images", file, "-o", "yaml");
        Assert.StartsWith("images:\n- mirror.example:5000/k8s/kube-apiserver:v1.31.2\n", yaml);
    }

    [Fact]
    public async Task Images_of_an_invalid_plan_prints_the_errors()
    {
        var (code, stdout, stderr) = await Run("plan", "images", PlanTestData.PathOf("bad-unknown-runtime.yaml"));
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains(":8: spec.runtime.kind: unknown runtime 'podman'", stderr);
    }

    [Fact]
    public async Task Plan_alone_prints_help()
    {
        var (code, stdout, _) = await Run("plan");
        Assert.Equal(0, code);
        Assert.Contains("validate", stdout);
        Assert.Contains("images", stdout);
    }
}
