using NodeFleet.Plans;
using static NodeFleet.Tests.Plans.PlanTestData;

namespace NodeFleet.Tests.Plans;

public class PlanLoaderTests
{
    [Fact]
    public void Loads_a_full_plan_into_the_wire_model()
    {
        var result = Load("valid-full.yaml");
        Assert.Empty(result.Errors);
        var plan = Assert.IsType<NodeFleet.Protocol.V1.NodePlan>(result.Plan);
        Assert.Equal("upgrade-1.31", plan.Metadata.Name);
        var spec = plan.Spec;
        Assert.Equal("v1.31.2", spec.KubernetesVersion);
        Assert.Equal("containerd", spec.Runtime.Kind);
        Assert.Equal("unix:///run/containerd/containerd.sock", spec.Runtime.Endpoint);
        Assert.Equal("systemd", spec.Runtime.CgroupDriver);
        Assert.Equal("registry.k8s.io/pause:3.10", spec.Runtime.SandboxImage);
        Assert.Equal("mirror.example:5000/k8s", spec.Registry.ImageRepository);
        Assert.Equal(["https://mirror.example:5000"], spec.Registry.Mirrors["registry.k8s.io"].Endpoints);
        Assert.Equal(["https://hub-mirror.example", "http://10.0.0.5:5000/v2/hub"], spec.Registry.Mirrors["docker.io"].Endpoints);
        Assert.Equal("/etc/nodefleet/registry-auth.json", spec.Registry.CredentialsFile);
        Assert.Empty(spec.Images);
        Assert.Equal(2, spec.Artifacts.Count);
        Assert.Equal("kubelet", spec.Artifacts[0].Name);
        Assert.Equal("https://mirror.example/k8s/v1.31.2/bin/linux/amd64/kubelet", spec.Artifacts[0].Url);
        Assert.Equal("0c23a4e5c1d1f4b6a7e8d9c0b1a2f3e4d5c6b7a8091a2b3c4d5e6f708192a3b4", spec.Artifacts[0].Sha256);
        Assert.Equal("/usr/bin/kubelet", spec.Artifacts[0].InstallPath);
        Assert.Equal("0755", spec.Artifacts[0].Mode);
        Assert.Equal("0750", spec.Artifacts[1].Mode); // unquoted: read as written, not as a YAML 1.1 octal number
        Assert.Equal("20-nodefleet.conf", spec.Kubelet.DropInName);
        Assert.Equal("tier=web", spec.Kubelet.ExtraArgs["node-labels"]);
        Assert.Equal("110", spec.Kubelet.ExtraArgs["max-pods"]);
        Assert.Equal(TimeSpan.FromMinutes(15), spec.Timeouts["prepull-images"].ToTimeSpan());
        Assert.Equal(TimeSpan.FromMinutes(90), spec.Timeouts["verify"].ToTimeSpan());
        Assert.Empty(spec.SkipPhases);
    }

    [Fact]
    public void Records_the_line_of_every_field()
    {
        var source = Load("valid-full.yaml").Source;
        Assert.Equal(5, source.Locate("metadata.name").Line);
        Assert.Equal(7, source.Locate("spec.kubernetesVersion").Line);
        Assert.Equal(16, source.Locate("spec.registry.mirrors[\"registry.k8s.io\"]").Line);
        Assert.Equal(19, source.Locate("spec.registry.mirrors[\"docker.io\"][1]").Line);
        Assert.Equal(28, source.Locate("spec.artifacts[1]").Line);
        Assert.Equal(30, source.Locate("spec.artifacts[1].sha256").Line);
        Assert.Equal(35, source.Locate("spec.kubelet.extraArgs.node-labels").Line);
        Assert.Equal(36, source.Locate("spec.timeouts.verify").Line);
        Assert.Equal((10, 5), source.Locate("spec.runtime.endpoint"));
        // An absent field is placed at its nearest parent.
        Assert.Equal(28, source.Locate("spec.artifacts[1].nothing").Line);
    }

    [Fact]
    public void A_minimal_plan_is_valid()
    {
        var result = Load("valid-minimal.yaml");
        Assert.Empty(result.Errors);
        Assert.Equal("cri-o", result.Plan!.Spec.Runtime.Kind);
        Assert.Equal("", result.Plan.Spec.Runtime.Endpoint); // defaults are applied separately
    }

    [Fact]
    public void Unknown_runtime_is_refused_naming_the_allowed_ones()
    {
        var result = Load("bad-unknown-runtime.yaml");
        AssertErrors(result, (8, "spec.runtime.kind", "unknown runtime 'podman': use one of containerd, cri-o, docker"));
        Assert.EndsWith("bad-unknown-runtime.yaml:8: spec.runtime.kind: unknown runtime 'podman': use one of containerd, cri-o, docker",
            result.Errors[0].ToString());
    }

    [Fact]
    public void Bad_sha256_is_refused_at_its_line() =>
        AssertErrors(Load("bad-sha256.yaml"),
            (12, "spec.artifacts[0].sha256", "bad sha256 '0c23a4e5c1d1f4b6a7e8d9c0b1a2f3e4d5c6b7a8091a2b3c4d5e6f708192a3b': must be exactly 64 lowercase hex digits (got 63 characters)"),
            (16, "spec.artifacts[1].sha256", "hex digits must be lowercase"));

    [Fact]
    public void Install_path_with_dot_dot_is_refused() =>
        AssertErrors(Load("bad-dotdot-path.yaml"), (13, "spec.artifacts[0].installPath", "must not contain '..' segments"));

    [Fact]
    public void Relative_install_path_is_refused() =>
        AssertErrors(Load("bad-relative-path.yaml"), (13, "spec.artifacts[0].installPath", "must be an absolute path"));

    [Fact]
    public void Install_path_outside_the_allowed_roots_and_setuid_mode_are_refused() =>
        AssertErrors(Load("bad-outside-roots.yaml"),
            (17, "spec.artifacts[1].installPath", "'/etc/systemd/system/evil.service': must be under /usr/bin, /usr/local/bin, /opt/cni/bin, /usr/libexec/kubernetes"),
            (18, "spec.artifacts[1].mode", "setuid, setgid and sticky bits are not allowed"));

    [Fact]
    public void Shell_metacharacters_dashes_and_owned_flags_in_kubelet_args_are_refused() =>
        AssertErrors(Load("bad-kubelet-metachar.yaml"),
            (11, "spec.kubelet.extraArgs.node-labels", "value of 'node-labels' contains ';'"),
            (13, "spec.kubelet.extraArgs.--max-pods", "without leading dashes ('max-pods', not '--max-pods')"),
            (14, "spec.kubelet.extraArgs.container-runtime-endpoint", "set spec.runtime.endpoint instead"));

    [Fact]
    public void Newline_in_a_kubelet_arg_is_refused() =>
        AssertErrors(Load("bad-kubelet-newline.yaml"),
            (11, "spec.kubelet.extraArgs.node-labels", "value of 'node-labels' contains a newline"));

    [Fact]
    public void Unknown_fields_and_wrong_types_are_all_reported() =>
        AssertErrors(Load("bad-unknown-field.yaml"),
            (5, "metadata", "unknown field 'labels' (known: name)"),
            (8, "spec", "unknown field 'runtme' (did you mean 'runtime'? known: kubernetesVersion, runtime, registry, images, artifacts, kubelet, timeouts, skipPhases, drain, kubeadm)"),
            (12, "spec.runtime", "unknown field 'cgroupdriver' (did you mean 'cgroupDriver'?"),
            (13, "spec.images", "expected a list, found 'registry.k8s.io/pause:3.10'"),
            (14, "spec.timeouts.prepull-images", "'soon' is not a duration"));

    [Fact]
    public void Wrong_api_version_is_refused()
    {
        var result = Load("bad-api-version.yaml");
        AssertErrors(result, (1, "apiVersion", "unsupported apiVersion 'nodefleet.io/v2': expected nodefleet.io/v1"));
        Assert.Equal($"{PathOf("bad-api-version.yaml")}:1: apiVersion: unsupported apiVersion 'nodefleet.io/v2': expected nodefleet.io/v1",
            result.Errors[0].ToString());
    }

    [Fact]
    public void Missing_api_version_and_kind_are_required()
    {
        var result = PlanLoader.Load("metadata: {name: a}\nspec: {kubernetesVersion: v1.31.2, runtime: {kind: docker}}\n");
        AssertErrors(result, (1, "apiVersion", "required: nodefleet.io/v1"), (1, "kind", "required: NodePlan"));
    }

    [Fact]
    public void Wrong_kind_is_refused() =>
        AssertErrors(PlanLoader.Load(Plan("kind: Pod")), (2, "kind", "unsupported kind 'Pod': expected NodePlan"));

    [Fact]
    public void Yaml_syntax_errors_give_their_line()
    {
        var result = PlanLoader.Load("apiVersion: nodefleet.io/v1\nkind: NodePlan\nspec:\n  images: [a, b\n  runtime: {}\n", "p.yaml");
        Assert.Single(result.Errors);
        Assert.StartsWith("p.yaml:", result.Errors[0].ToString());
        Assert.True(result.Errors[0].Line >= 4, result.Errors[0].ToString());
        Assert.Null(result.Plan);
    }

    [Fact]
    public void Duplicate_keys_are_refused_at_the_second()
    {
        var result = PlanLoader.Load(Plan("metadata:\n  name: a\n  name: b"));
        var error = Assert.Single(result.Errors);
        Assert.Equal(5, error.Line);
        Assert.Contains("Duplicate key", error.Message);
    }

    [Fact]
    public void Several_documents_or_none_are_refused()
    {
        Assert.Contains("several YAML documents", Assert.Single(PlanLoader.Load(Plan() + "---\n" + Plan()).Errors).Message);
        Assert.Contains("empty plan", Assert.Single(PlanLoader.Load("# nothing\n").Errors).Message);
        Assert.Contains("expected a plan", Assert.Single(PlanLoader.Load("- a\n").Errors).Message);
    }

    [Fact]
    public void Wrong_shapes_are_refused_without_a_second_error_for_the_same_field()
    {
        var result = PlanLoader.Load(Plan(
            "spec:",
            "  kubernetesVersion: [v1.31.2]",
            "  runtime: containerd",
            "  artifacts: {name: kubelet}",
            "  kubelet: {extraArgs: [a, b]}",
            "  registry: {mirrors: {docker.io: https://m.example}}"));
        AssertErrors(result,
            (5, "spec.kubernetesVersion", "expected a string, found a list"),
            (6, "spec.runtime", "expected a mapping, found 'containerd'"),
            (7, "spec.artifacts", "expected a list, found a mapping"),
            (8, "spec.kubelet.extraArgs", "expected a mapping, found a list"),
            (9, "spec.registry.mirrors[\"docker.io\"]", "expected a list, found 'https://m.example'"));
    }

    [Fact]
    public void Nulls_read_as_not_set()
    {
        var result = PlanLoader.Load(Plan(
            "spec:",
            "  kubernetesVersion: v1.31.2",
            "  runtime: {kind: containerd, endpoint: ~, sandboxImage: null}",
            "  images:",
            "  artifacts:",
            "  kubelet:",
            "  skipPhases: ~"));
        Assert.Empty(result.Errors);
        Assert.Equal("", result.Plan!.Spec.Runtime.Endpoint);
        Assert.Empty(result.Plan.Spec.Images);
    }

    [Fact]
    public void Parse_checks_only_the_structure_and_keeps_semantic_errors_for_the_validator()
    {
        var yaml = Plan("spec: {kubernetesVersion: latest, runtime: {kind: podman}}");
        Assert.Empty(PlanLoader.Parse(yaml).Errors);
        Assert.Equal(2, PlanLoader.Load(yaml).Errors.Count);
    }

    [Fact]
    public void An_unreadable_file_is_one_error_naming_it()
    {
        var result = PlanLoader.LoadFile("/nonexistent/plan.yaml");
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("/nonexistent/plan.yaml: cannot read plan", error.ToString());
    }

    // A directory used to be reported as "Access to the path … is denied".
    [Fact]
    public void A_directory_is_one_error_saying_so()
    {
        var dir = Directory.CreateTempSubdirectory("nf-plan-dir");
        try
        {
            var error = Assert.Single(PlanLoader.LoadFile(dir.FullName).Errors);
            Assert.Equal($"{dir.FullName}: cannot read plan: it is a directory", error.ToString());
        }
        finally
        {
            dir.Delete();
        }
    }

    /// <summary>A valid plan's head (apiVersion, kind, metadata) and spec, with the given lines replacing parts of it.</summary>
    private static string Plan(params string[] lines)
    {
        var head = new List<string> { "apiVersion: nodefleet.io/v1" };
        head.Add(lines.FirstOrDefault(l => l.StartsWith("kind:")) ?? "kind: NodePlan");
        var rest = lines.Where(l => !l.StartsWith("kind:")).ToList();
        if (!rest.Any(l => l.StartsWith("metadata:"))) head.Add("metadata: {name: test}");
        if (!rest.Any(l => l.StartsWith("spec"))) rest.Add("spec: {kubernetesVersion: v1.31.2, runtime: {kind: containerd}}");
        return string.Join("\n", head.Concat(rest)) + "\n";
    }
}
