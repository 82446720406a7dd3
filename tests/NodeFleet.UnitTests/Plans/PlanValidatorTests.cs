using Google.Protobuf.WellKnownTypes;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Plans;

/// <summary>The rules on plans built in code, as they arrive over the wire: errors carry a path and no line.</summary>
public class PlanValidatorTests
{
    private const string Sha = "0c23a4e5c1d1f4b6a7e8d9c0b1a2f3e4d5c6b7a8091a2b3c4d5e6f708192a3b4";

    internal static NodePlan ValidPlan() => new()
    {
        Metadata = new PlanMetadata { Name = "upgrade-1.31" },
        Spec = new NodePlanSpec
        {
            KubernetesVersion = "v1.31.2",
            Runtime = new RuntimeSpec { Kind = "containerd" },
            Artifacts = { new Artifact { Name = "kubelet", Url = "https://dl.example/kubelet", Sha256 = Sha, InstallPath = "/usr/bin/kubelet" } },
        },
    };

    private static PlanError Single(NodePlan plan)
    {
        var errors = PlanValidator.Validate(plan);
        Assert.True(errors.Count == 1, string.Join("\n", errors));
        return errors[0];
    }

    private static void AssertRefused(Action<NodePlan> change, string path, string says)
    {
        var plan = ValidPlan();
        change(plan);
        var error = Single(plan);
        Assert.Equal(path, error.Path);
        Assert.Contains(says, error.Message);
        Assert.Equal(0, error.Line);
        Assert.Equal($"{path}: {error.Message}", error.ToString());
    }

    private static void AssertAccepted(Action<NodePlan> change)
    {
        var plan = ValidPlan();
        change(plan);
        var errors = PlanValidator.Validate(plan);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void A_valid_plan_has_no_errors() => Assert.Empty(PlanValidator.Validate(ValidPlan()));

    [Fact]
    public void An_empty_plan_reports_what_is_required()
    {
        var errors = PlanValidator.Validate(new NodePlan()).Select(e => e.ToString()).ToList();
        Assert.Equal(
        [
            "metadata.name: required",
            "spec.kubernetesVersion: required, e.g. v1.31.2",
            "spec.runtime.kind: required: one of containerd, cri-o, docker",
        ], errors);
    }

    [Theory]
    [InlineData("Upgrade")]
    [InlineData("-upgrade")]
    [InlineData("upgrade_1")]
    [InlineData("upgrade.")]
    public void Names_must_be_dns_labels(string name) =>
        AssertRefused(p => p.Metadata.Name = name, "metadata.name", "at most 63 characters");

    [Fact]
    public void Names_are_at_most_63_characters()
    {
        AssertAccepted(p => p.Metadata.Name = new string('a', 63));
        AssertRefused(p => p.Metadata.Name = new string('a', 64), "metadata.name", "at most 63");
    }

    [Theory]
    [InlineData("v1.31.2")]
    [InlineData("v1.32.0-rc.1")]
    public void Versions_accepted(string version) => AssertAccepted(p => p.Spec.KubernetesVersion = version);

    [Theory]
    [InlineData("1.31.2")]
    [InlineData("v1.31")]
    [InlineData("v1.31.2+k3s1")]
    [InlineData("v01.31.2")]
    [InlineData("latest")]
    public void Versions_refused(string version) =>
        AssertRefused(p => p.Spec.KubernetesVersion = version, "spec.kubernetesVersion", "not a Kubernetes version");

    [Fact]
    public void A_version_kubeadm_images_are_not_known_for_needs_explicit_images()
    {
        AssertRefused(p => p.Spec.KubernetesVersion = "v1.35.0", "spec.kubernetesVersion",
            "known for Kubernetes v1.28 to v1.33, not v1.35.0: list spec.images and set spec.runtime.sandboxImage");
        AssertRefused(p => { p.Spec.KubernetesVersion = "v1.35.0"; p.Spec.Images.Add("registry.k8s.io/kube-proxy:v1.35.0"); },
            "spec.kubernetesVersion", ": set spec.runtime.sandboxImage");
        AssertAccepted(p =>
        {
            p.Spec.KubernetesVersion = "v1.35.0";
            p.Spec.Images.Add("registry.k8s.io/kube-proxy:v1.35.0");
            p.Spec.Runtime.SandboxImage = "registry.k8s.io/pause:3.10.1";
        });
    }

    [Fact]
    public void Unknown_runtime_names_the_allowed_ones() =>
        AssertRefused(p => p.Spec.Runtime.Kind = "rkt", "spec.runtime.kind", "unknown runtime 'rkt': use one of containerd, cri-o, docker");

    [Theory]
    [InlineData("unix:///run/containerd/containerd.sock", null)]
    [InlineData("unix:///var/run/crio/crio.sock", null)]
    [InlineData("tcp://127.0.0.1:2375", "must be unix:///")]
    [InlineData("/run/containerd/containerd.sock", "must be unix:///")]
    [InlineData("unix://run/containerd.sock", "absolute path")]
    [InlineData("unix:///run/../etc/x.sock", "'..'")]
    [InlineData("unix:///run/x .sock", "spaces")]
    public void Runtime_endpoints(string endpoint, string? says)
    {
        if (says is null) AssertAccepted(p => p.Spec.Runtime.Endpoint = endpoint);
        else AssertRefused(p => p.Spec.Runtime.Endpoint = endpoint, "spec.runtime.endpoint", says);
    }

    [Fact]
    public void Cgroup_driver_is_systemd_or_cgroupfs()
    {
        AssertAccepted(p => p.Spec.Runtime.CgroupDriver = "cgroupfs");
        AssertRefused(p => p.Spec.Runtime.CgroupDriver = "Systemd", "spec.runtime.cgroupDriver", "use systemd or cgroupfs");
    }

    [Fact]
    public void Sandbox_image_must_be_a_reference() =>
        AssertRefused(p => p.Spec.Runtime.SandboxImage = "Registry.k8s.io/pause:3.10", "spec.runtime.sandboxImage", "lowercase");

    [Fact]
    public void Images_must_be_references() =>
        AssertRefused(p => p.Spec.Images.Add("nginx:latest latest"), "spec.images[0]", "space");

    [Fact]
    public void Image_repository_is_a_prefix_without_tag() =>
        AssertRefused(p => p.Spec.Registry = new RegistrySpec { ImageRepository = "mirror.example/k8s:v1" },
            "spec.registry.imageRepository", "not an image repository");

    private static Action<NodePlan> Mirror(string host, params string[] endpoints) => p =>
    {
        p.Spec.Registry ??= new RegistrySpec();
        var m = new MirrorEndpoints();
        m.Endpoints.AddRange(endpoints);
        p.Spec.Registry.Mirrors[host] = m;
    };

    [Theory]
    [InlineData("https://mirror.example:5000")]
    [InlineData("https://mirror.example:5000/")]
    [InlineData("http://10.0.0.5")]
    [InlineData("https://mirror.example/v2/k8s")]
    public void Mirror_endpoints_accepted(string endpoint) => AssertAccepted(Mirror("registry.k8s.io", endpoint));

    [Theory]
    [InlineData("mirror.example:5000", "http:// or https://")]
    [InlineData("ftp://mirror.example", "http:// or https://")]
    [InlineData("https://user:pw@mirror.example", "credentials")]
    [InlineData("https://mirror.example/?x=1", "query")]
    [InlineData("https://mirror.example/#x", "fragment")]
    [InlineData("https://mirror.example/a/../b", "'..'")]
    [InlineData("https://mirror.example/a b", "spaces")]
    [InlineData("https://mirror.example/a%2Fb", "path prefix")]
    public void Mirror_endpoints_refused(string endpoint, string says) =>
        AssertRefused(Mirror("registry.k8s.io", endpoint), "spec.registry.mirrors[\"registry.k8s.io\"][0]", says);

    [Fact]
    public void Mirror_hosts_must_be_registry_hosts()
    {
        AssertRefused(Mirror("https://registry.k8s.io", "https://m.example"), "spec.registry.mirrors[\"https://registry.k8s.io\"]", "port");
        AssertRefused(Mirror("registry.k8s.io"), "spec.registry.mirrors[\"registry.k8s.io\"]", "at least one mirror endpoint");
        AssertRefused(Mirror("registry.k8s.io", "https://m.example", "https://m.example"), "spec.registry.mirrors[\"registry.k8s.io\"][1]", "listed twice");
    }

    [Fact]
    public void Docker_mirrors_any_registry_without_a_path()
    {
        AssertAccepted(p => { p.Spec.Runtime.Kind = "docker"; Mirror("docker.io", "https://hub.example")(p); });
        // Pulled from the mirror and tagged with the upstream name by the agent.
        AssertAccepted(p => { p.Spec.Runtime.Kind = "docker"; Mirror("registry.k8s.io", "https://m.example")(p); });
        AssertRefused(p => { p.Spec.Runtime.Kind = "docker"; Mirror("docker.io", "https://hub.example/v2/hub")(p); },
            "spec.registry.mirrors[\"docker.io\"][0]", "no path");
    }

    [Theory]
    [InlineData("/etc/containerd/auth.json", null)]
    [InlineData("/var/lib/kubelet/config.json", null)]
    [InlineData("/root/.docker/config.json", "must be under /etc, /var/lib")]
    [InlineData("/etc/../root/.docker/config.json", "'..'")]
    [InlineData("/etc", "must be under /etc, /var/lib")]
    [InlineData("/etcetera/auth.json", "must be under /etc, /var/lib")]
    [InlineData("etc/auth.json", "absolute")]
    public void Credentials_file_is_confined(string path, string? says)
    {
        Action<NodePlan> change = p => p.Spec.Registry = new RegistrySpec { CredentialsFile = path };
        if (says is null) AssertAccepted(change);
        else AssertRefused(change, "spec.registry.credentialsFile", says);
    }

    private static Action<NodePlan> Artifact(Action<Artifact> change) => p => change(p.Spec.Artifacts[0]);

    [Theory]
    [InlineData("/usr/bin/kubelet")]
    [InlineData("/usr/local/bin/crictl")]
    [InlineData("/opt/cni/bin/bridge")]
    [InlineData("/usr/bin/containerd-shim-runc-v2")]
    [InlineData("/usr/local/bin/runc")]
    [InlineData("/usr/bin/cri-dockerd")]
    public void Install_paths_accepted(string path) => AssertAccepted(Artifact(a => a.InstallPath = path));

    [Theory]
    [InlineData("/usr/bin", "must be one of kubelet")]
    [InlineData("/usr/bin/systemctl", "systemctl is not a binary a node upgrade installs")]
    [InlineData("/usr/bin/sudo", "sudo is not a binary a node upgrade installs")]
    [InlineData("/usr/bin/bash", "bash is not a binary a node upgrade installs")]
    [InlineData("/usr/local/bin/nodefleet-agent", "nodefleet-agent is not a binary a node upgrade installs")]
    [InlineData("/usr/bin/containerd-shim", "containerd-shim is not a binary")]
    [InlineData("/usr/libexec/kubernetes/kubelet-plugins/volume/exec/x", "must be one of kubelet")]
    [InlineData("/usr/sbin/kubelet", "must be one of kubelet")]
    [InlineData("/opt/cni/bin/sub/bridge", "directly in /opt/cni/bin, not in a subdirectory")]
    [InlineData("/usr/bin/", "clean path")]
    [InlineData("/usr/bin//kubelet", "clean path")]
    [InlineData("/usr/bin/./kubelet", "clean path")]
    [InlineData("/usr/bin/../sbin/kubelet", "'..'")]
    [InlineData("/usr/binary/kubelet", "must be one of kubelet")]
    [InlineData("/etc/cron.d/x", "or a CNI plugin in /opt/cni/bin")]
    [InlineData("kubelet", "absolute")]
    [InlineData("./usr/bin/kubelet", "absolute")]
    [InlineData("", "required")]
    public void Install_paths_refused(string path, string says) =>
        AssertRefused(Artifact(a => a.InstallPath = path), "spec.artifacts[0].installPath", says);

    [Fact]
    public void Allowed_install_roots_are_exported() =>
        Assert.Equal(["/usr/bin", "/usr/local/bin", "/opt/cni/bin"], PlanValidator.AllowedInstallRoots);

    [Theory]
    [InlineData("", "required")]
    [InlineData("abc", "got 3 characters")]
    [InlineData("0c23a4e5c1d1f4b6a7e8d9c0b1a2f3e4d5c6b7a8091a2b3c4d5e6f708192a3bz", "not all hex")]
    [InlineData("sha256:0c23a4e5c1d1f4b6a7e8d9c0b1a2f3e4d5c6b7a8091a2b3c4d5e6f708192a3b4", "got 71 characters")]
    public void Sha256_is_64_lowercase_hex(string sha, string says) =>
        AssertRefused(Artifact(a => a.Sha256 = sha), "spec.artifacts[0].sha256", says);

    [Theory]
    [InlineData("https://dl.example/kubelet?X-Amz-Signature=abc", null)]
    [InlineData("http://10.0.0.5/k8s/kubelet", null)]
    [InlineData("file:///tmp/kubelet", "http:// or https://")]
    [InlineData("ftp://dl.example/kubelet", "http:// or https://")]
    [InlineData("https://dl.example/", "names no file")]
    [InlineData("https://u:p@dl.example/kubelet", "credentials")]
    [InlineData("", "required")]
    public void Artifact_urls(string url, string? says)
    {
        if (says is null) AssertAccepted(Artifact(a => a.Url = url));
        else AssertRefused(Artifact(a => a.Url = url), "spec.artifacts[0].url", says);
    }

    [Theory]
    [InlineData("0755", null)]
    [InlineData("755", null)]
    [InlineData("0500", null)]
    [InlineData("0555", null)]
    [InlineData("0644", null)]
    [InlineData("0750", null)]
    [InlineData("0777", "writable by its group and all users")]
    [InlineData("0757", "writable by all users")]
    [InlineData("0775", "writable by its group,")]
    [InlineData("666", "writable by its group and all users")]
    [InlineData("4755", "setuid")]
    [InlineData("2755", "setuid")]
    [InlineData("1777", "setuid")]
    [InlineData("0855", "octal")]
    [InlineData("75", "octal")]
    [InlineData("00755", "octal")]
    [InlineData("rwxr-xr-x", "octal")]
    public void Modes(string mode, string? says)
    {
        if (says is null) AssertAccepted(Artifact(a => a.Mode = mode));
        else AssertRefused(Artifact(a => a.Mode = mode), "spec.artifacts[0].mode", says);
    }

    [Fact]
    public void Artifact_names_are_required_and_unique_and_install_paths_unique()
    {
        AssertRefused(Artifact(a => a.Name = ""), "spec.artifacts[0].name", "required");
        AssertRefused(Artifact(a => a.Name = "../kubelet"), "spec.artifacts[0].name", "at most 63 characters");
        var plan = ValidPlan();
        plan.Spec.Artifacts.Add(plan.Spec.Artifacts[0].Clone());
        var errors = PlanValidator.Validate(plan).Select(e => e.ToString()).ToList();
        Assert.Equal(
        [
            "spec.artifacts[1].name: duplicate artifact name 'kubelet' (also spec.artifacts[0])",
            "spec.artifacts[1].installPath: '/usr/bin/kubelet' is also the install path of spec.artifacts[0]",
        ], errors);
    }

    [Theory]
    [InlineData("20-nodefleet.conf", null)]
    [InlineData("99-a-b-1.conf", null)]
    [InlineData("nodefleet.conf", "NN-name.conf")]
    [InlineData("20-node_fleet.conf", "NN-name.conf")]
    [InlineData("20-../x.conf", "NN-name.conf")]
    [InlineData("20-nodefleet.conf.bak", "NN-name.conf")]
    public void Drop_in_names(string name, string? says)
    {
        Action<NodePlan> change = p => p.Spec.Kubelet = new KubeletSpec { DropInName = name };
        if (says is null) AssertAccepted(change);
        else AssertRefused(change, "spec.kubelet.dropInName", says);
    }

    [Theory]
    [InlineData("node-labels", "tier=web,zone=a", null)]
    [InlineData("v", "2", null)]
    [InlineData("max-pods", "110", null)]
    [InlineData("feature-gates", "A=true,B=false", null)]
    [InlineData("register-with-taints", "dedicated=gpu:NoSchedule", null)]
    [InlineData("node-ip", "", null)]
    [InlineData("node-labels", "a=b;c", "contains ';'")]
    [InlineData("node-labels", "a=$(id)", "contains '$'")]
    [InlineData("node-labels", "a=`id`", "contains '`'")]
    [InlineData("node-labels", "a&b", "contains '&'")]
    [InlineData("node-labels", "a|b", "contains '|'")]
    [InlineData("node-labels", "a<b", "contains '<'")]
    [InlineData("node-labels", "a>b", "contains '>'")]
    [InlineData("node-labels", "a\\b", "contains '\\'")]
    [InlineData("node-labels", "a\"b", "contains '\"'")]
    [InlineData("node-labels", "a'b", "contains '''")]
    [InlineData("node-labels", "a%hb", "contains '%'")]
    [InlineData("node-labels", "a b", "contains a space")]
    [InlineData("node-labels", "a\tb", "contains a tab")]
    [InlineData("node-labels", "a\nb", "contains a newline")]
    [InlineData("node-labels", "a\rb", "contains a carriage return")]
    [InlineData("node-labels", "a\0b", "contains a NUL character")]
    [InlineData("node-labels", "a\u2028b", "contains the character U+2028")]
    [InlineData("--node-labels", "a", "without leading dashes")]
    [InlineData("-v", "2", "without leading dashes")]
    [InlineData("Node-Labels", "a", "not a kubelet flag name")]
    [InlineData("node labels", "a", "not a kubelet flag name")]
    [InlineData("node-labels=a", "b", "not a kubelet flag name")]
    [InlineData("container-runtime-endpoint", "unix:///x.sock", "set spec.runtime.endpoint instead")]
    [InlineData("cgroup-driver", "systemd", "set spec.runtime.cgroupDriver instead")]
    [InlineData("pod-infra-container-image", "registry.k8s.io/pause:3.10", "set spec.runtime.sandboxImage instead")]
    public void Kubelet_args(string flag, string value, string? says)
    {
        Action<NodePlan> change = p => p.Spec.Kubelet = new KubeletSpec { ExtraArgs = { [flag] = value } };
        if (says is null) AssertAccepted(change);
        else AssertRefused(change, PlanPath.Key("spec.kubelet.extraArgs", flag), says);
    }

    [Theory]
    [InlineData("pod-manifest-path", "/etc/evil", "--pod-manifest-path is refused: it makes the kubelet run static pods")]
    [InlineData("manifest-url", "http://evil.example/pod.yaml", "--manifest-url is refused: it makes the kubelet run static pods")]
    [InlineData("config", "/tmp/k.yaml", "--config is refused: it changes the configuration")]
    [InlineData("kubeconfig", "/tmp/k.conf", "--kubeconfig is refused")]
    [InlineData("bootstrap-kubeconfig", "/tmp/k.conf", "--bootstrap-kubeconfig is refused")]
    [InlineData("tls-cert-file", "/tmp/c.pem", "--tls-cert-file is refused: it changes the kubelet's certificates")]
    [InlineData("client-ca-file", "/tmp/ca.pem", "--client-ca-file is refused")]
    [InlineData("anonymous-auth", "true", "--anonymous-auth is refused: it changes who may call the kubelet's API")]
    [InlineData("read-only-port", "10255", "--read-only-port is refused")]
    [InlineData("volume-plugin-dir", "/tmp/p", "--volume-plugin-dir is refused: it makes the kubelet run binaries")]
    [InlineData("image-credential-provider-bin-dir", "/tmp/p", "--image-credential-provider-bin-dir is refused")]
    [InlineData("cni-bin-dir", "/tmp/p", "--cni-bin-dir is refused")]
    [InlineData("root-dir", "/tmp/r", "--root-dir is refused: it moves where the kubelet keeps")]
    [InlineData("image-service-endpoint", "unix:///tmp/x.sock", "--image-service-endpoint is refused")]
    [InlineData("made-up-flag", "1", "--made-up-flag is not a kubelet flag a plan may set")]
    [InlineData("keep-terminated-pod-volumes", "true", "--keep-terminated-pod-volumes was removed in kubelet v1.30; the plan is for v1.31")]
    [InlineData("container-runtime", "remote", "--container-runtime was removed in kubelet v1.27")]
    public void Kubelet_flags_outside_the_allow_list_are_refused_with_why(string flag, string value, string says) =>
        AssertRefused(p => p.Spec.Kubelet = new KubeletSpec { ExtraArgs = { [flag] = value } }, PlanPath.Key("spec.kubelet.extraArgs", flag), says);

    [Fact]
    public void A_removed_flag_is_accepted_for_the_versions_that_had_it()
    {
        Assert.Null(PlanValidator.KubeletFlagError("keep-terminated-pod-volumes", "true", 29));
        Assert.Null(PlanValidator.KubeletFlagError("container-runtime", "remote", 26));
        Assert.Contains("removed in kubelet v1.27", PlanValidator.KubeletFlagError("container-runtime", "remote", 27));
    }

    [Fact]
    public void No_flag_is_both_allowed_and_refused() =>
        Assert.Empty(KubeletFlags.AllowList.Keys.Intersect(KubeletFlags.Refused.Keys));

    [Fact]
    public void Kubelet_arg_errors_name_the_key() =>
        Assert.StartsWith("value of 'node-labels' contains ';'", PlanValidator.KubeletFlagError("node-labels", "a;b"));

    [Fact]
    public void Timeouts_are_by_known_phase_and_positive()
    {
        AssertAccepted(p => p.Spec.Timeouts["prepull-images"] = Duration.FromTimeSpan(TimeSpan.FromMinutes(15)));
        AssertRefused(p => p.Spec.Timeouts["prepull"] = Duration.FromTimeSpan(TimeSpan.FromMinutes(15)),
            "spec.timeouts.prepull", "unknown phase 'prepull' (phases: preflight, stage-artifacts,");
        AssertRefused(p => p.Spec.Timeouts["verify"] = new Duration(), "spec.timeouts.verify", "longer than 0");
    }

    [Fact]
    public void Skip_phases_are_known_and_listed_once()
    {
        AssertAccepted(p => p.Spec.SkipPhases.Add("verify"));
        AssertRefused(p => p.Spec.SkipPhases.Add("drain"), "spec.skipPhases[0]", "unknown phase 'drain'");
        AssertRefused(p => p.Spec.SkipPhases.AddRange(["verify", "verify"]), "spec.skipPhases[1]", "listed twice");
    }

    [Fact]
    public void Skipping_prepull_means_no_image_list_is_needed() =>
        AssertAccepted(p =>
        {
            p.Spec.KubernetesVersion = "v1.40.0";
            p.Spec.SkipPhases.Add("prepull-images");
            p.Spec.Runtime.SandboxImage = "registry.k8s.io/pause:3.10";
        });

    [Fact]
    public void EnsureValid_throws_with_every_error()
    {
        var e = Assert.Throws<PlanException>(() => PlanValidator.EnsureValid(new NodePlan()));
        Assert.Equal(3, e.Errors.Count);
        Assert.Contains("metadata.name: required", e.Message);
    }

    [Fact]
    public void Errors_format_with_and_without_a_position()
    {
        Assert.Equal("plan.yaml:12: spec.runtime.kind: bad", new PlanError("plan.yaml", 12, 5, "spec.runtime.kind", "bad").ToString());
        Assert.Equal("plan.yaml: cannot read", new PlanError("plan.yaml", 0, 0, "", "cannot read").ToString());
        Assert.Equal("spec.runtime.kind: bad", new PlanError("", 0, 0, "spec.runtime.kind", "bad").ToString());
        Assert.Equal("plan.yaml:3: unknown field 'x'", new PlanError("plan.yaml", 3, 1, "", "unknown field 'x'").ToString());
    }
}
