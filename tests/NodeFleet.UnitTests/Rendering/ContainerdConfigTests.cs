using NodeFleet.Rendering;

namespace NodeFleet.Tests.Rendering;

public class ContainerdConfigTests
{
    internal static readonly ContainerdSettings Systemd = new(CgroupDriver.Systemd, "registry.k8s.io/pause:3.10");
    internal static readonly ContainerdSettings Cgroupfs = Systemd with { CgroupDriver = CgroupDriver.Cgroupfs };

    public static TheoryData<string> Inputs => new() { "containerd-1.6-default.toml", "containerd-custom.toml" };

    [Fact]
    public void Renders_a_minimal_config_from_scratch()
    {
        Golden.Matches("containerd-config.new-systemd.toml", ContainerdConfig.Render(null, Systemd));
        Golden.Matches("containerd-config.new-cgroupfs.toml", ContainerdConfig.Render(null, Cgroupfs));
    }

    [Theory]
    [InlineData("")]
    [InlineData("  \n\n")]
    public void Treats_a_blank_file_as_absent(string blank) =>
        Assert.Equal(ContainerdConfig.Render(null, Systemd), ContainerdConfig.Render(Utf8.Bytes(blank), Systemd));

    [Fact]
    public void Merges_into_the_stock_default_config_changing_only_owned_values()
    {
        var input = Golden.Input("containerd-1.6-default.toml");
        var output = ContainerdConfig.Render(input, Systemd);
        Golden.Matches("containerd-config.stock-systemd.toml", output);
        // The diff is the review aid: exactly sandbox_image, SystemdCgroup and config_path change.
        Golden.Matches("containerd-config.stock-systemd.diff", Utf8.Bytes(UnifiedDiff.Create(ContainerdConfig.DefaultPath, input, output)));
    }

    [Fact]
    public void Merges_into_a_hand_kept_config_keeping_comments_and_adding_missing_tables()
    {
        var input = Golden.Input("containerd-custom.toml");
        var output = ContainerdConfig.Render(input, Systemd);
        Golden.Matches("containerd-config.custom-systemd.toml", output);
        var text = Utf8.Text(output);
        Assert.Contains("# Pinned by the platform team.", text);
        Assert.Contains("level = \"info\" # raise to \"debug\" while investigating", text);
        Assert.Contains("runtime_type = \"io.containerd.runsc.v1\"", text); // another runtime is not ours
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Is_idempotent(string input)
    {
        foreach (var settings in new[] { Systemd, Cgroupfs })
        {
            var once = ContainerdConfig.Render(Golden.Input(input), settings);
            Assert.Equal(once, ContainerdConfig.Render(once, settings));
        }
        var fresh = ContainerdConfig.Render(null, Systemd);
        Assert.Equal(fresh, ContainerdConfig.Render(fresh, Systemd));
    }

    [Fact]
    public void Switching_the_cgroup_driver_changes_one_line()
    {
        var systemd = ContainerdConfig.Render(Golden.Input("containerd-1.6-default.toml"), Systemd);
        var cgroupfs = ContainerdConfig.Render(systemd, Cgroupfs);
        var diff = UnifiedDiff.Create("config.toml", systemd, cgroupfs);
        Assert.Equal(
            ["-            SystemdCgroup = true", "+            SystemdCgroup = false"],
            diff.Split('\n').Where(l => l.StartsWith('-') || l.StartsWith('+')).Where(l => !l.StartsWith("---") && !l.StartsWith("+++")));
        Assert.False(ContainerdConfig.Inspect(cgroupfs).SystemdCgroup);
    }

    [Fact]
    public void Inspect_reads_the_owned_keys()
    {
        var stock = ContainerdConfig.Inspect(Golden.Input("containerd-1.6-default.toml"));
        Assert.Equal(new ContainerdConfigState(2, "registry.k8s.io/pause:3.6", "runc", ContainerdConfig.RuncV2, false, ""), stock);
        var rendered = ContainerdConfig.Inspect(ContainerdConfig.Render(null, Systemd));
        Assert.Equal(new ContainerdConfigState(2, "registry.k8s.io/pause:3.10", null, ContainerdConfig.RuncV2, true, "/etc/containerd/certs.d"), rendered);
        Assert.Equal(new ContainerdConfigState(null, null, null, null, null, null), ContainerdConfig.Inspect(null));
    }

    [Fact]
    public void Adds_version_2_to_a_config_without_plugins_and_keeps_its_header_comment()
    {
        var output = Utf8.Text(ContainerdConfig.Render(Utf8.Bytes("# data on /data\nroot = \"/data\"\n"), Systemd));
        Assert.StartsWith("# data on /data\nversion = 2\nroot = \"/data\"\n", output);
    }

    [Fact]
    public void Keeps_a_runtime_type_the_user_chose_and_fills_an_empty_one()
    {
        const string header = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n";
        var kept = Utf8.Text(ContainerdConfig.Render(Utf8.Bytes(header + "  runtime_type = \"io.containerd.runc.v1\"\n"), Systemd));
        Assert.Contains("runtime_type = \"io.containerd.runc.v1\"", kept);
        var filled = Utf8.Text(ContainerdConfig.Render(Utf8.Bytes(header + "  runtime_type = \"\"\n"), Systemd));
        Assert.Contains("runtime_type = \"io.containerd.runc.v2\"", filled);
    }

    [Fact]
    public void Writes_owned_keys_into_tables_defined_by_dotted_keys()
    {
        const string input = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  registry.headers.X-Team = [\"nodes\"]\n";
        var output = Utf8.Text(ContainerdConfig.Render(Utf8.Bytes(input), Systemd));
        // A [plugins."…".registry] header here would redefine a table: the key goes in as a dotted key.
        Assert.Contains("  registry.config_path = \"/etc/containerd/certs.d\"\n", output);
        Assert.DoesNotContain("[plugins.\"io.containerd.grpc.v1.cri\".registry]", output);
        Assert.Equal("/etc/containerd/certs.d", ContainerdConfig.Inspect(Utf8.Bytes(output)).RegistryConfigPath);
    }

    [Fact]
    public void Keeps_crlf_line_endings_and_a_byte_order_mark()
    {
        var input = Utf8.Bytes("\uFEFFversion = 2\r\n[grpc]\r\n  address = \"/run/containerd/containerd.sock\"\r\n");
        var output = ContainerdConfig.Render(input, Systemd);
        Assert.Equal([0xEF, 0xBB, 0xBF], output[..3]);
        var text = Utf8.Text(output[3..]);
        Assert.DoesNotContain("\n", text.Replace("\r\n", ""));
        Assert.Equal(output, ContainerdConfig.Render(output, Systemd));
    }

    [Fact]
    public void Refuses_a_version_1_config_with_its_line()
    {
        var e = Assert.Throws<RenderException>(() =>
            ContainerdConfig.Render(Utf8.Bytes("# old\nversion = 1\n[plugins.cri]\n  sandbox_image = \"k8s.gcr.io/pause:3.2\"\n"), Systemd));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("version 1", e.Message);
    }

    [Fact]
    public void Refuses_plugins_without_a_version_as_version_1()
    {
        var e = Assert.Throws<RenderException>(() =>
            ContainerdConfig.Render(Utf8.Bytes("[plugins.cri]\n  sandbox_image = \"k8s.gcr.io/pause:3.2\"\n"), Systemd));
        Assert.Contains("no `version` key", e.Message);
        Assert.Contains("version 1", e.Message);
    }

    [Fact]
    public void Refuses_the_containerd_2_format()
    {
        var e = Assert.Throws<RenderException>(() => ContainerdConfig.Render(Utf8.Bytes("version = 3\n"), Systemd));
        Assert.Contains("containerd 2.x", e.Message);
    }

    [Fact]
    public void Refuses_unparsable_toml_with_line_and_column()
    {
        var e = Assert.Throws<RenderException>(() =>
            ContainerdConfig.Render(Utf8.Bytes("version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"\n  sandbox_image = \"x\"\n"), Systemd));
        Assert.StartsWith("containerd config.toml is not valid TOML: line 3, column ", e.Message);
    }

    [Fact]
    public void Refuses_a_key_defined_twice()
    {
        var e = Assert.Throws<RenderException>(() =>
            ContainerdConfig.Render(Utf8.Bytes("version = 2\n[grpc]\n  uid = 0\n  uid = 1\n"), Systemd));
        Assert.Contains("line 4", e.Message);
    }

    [Fact]
    public void Refuses_cri_registry_mirrors_which_containerd_rejects_with_config_path()
    {
        const string input = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://mirror.example\"]\n";
        var e = Assert.Throws<RenderException>(() => ContainerdConfig.Render(Utf8.Bytes(input), Systemd));
        Assert.Contains("registry.mirrors", e.Message);
        Assert.Contains("docker.io", e.Message);
        Assert.Contains("hosts.toml", e.Message);
    }

    [Fact]
    public void Refuses_cri_registry_configs_tls()
    {
        const string input = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"reg.lab\".tls]\n  insecure_skip_verify = true\n";
        var e = Assert.Throws<RenderException>(() => ContainerdConfig.Render(Utf8.Bytes(input), Systemd));
        Assert.Contains("configs.\"reg.lab\".tls", e.Message);
    }

    [Fact]
    public void Refuses_an_owned_key_inside_an_inline_table()
    {
        const string input = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes]\n  runc = { runtime_type = \"io.containerd.runc.v2\" }\n";
        var e = Assert.Throws<RenderException>(() => ContainerdConfig.Render(Utf8.Bytes(input), Systemd));
        Assert.Contains("line 3", e.Message); // of the file as given, before any edit
        Assert.Contains("inline table", e.Message);
    }

    [Fact]
    public void Refuses_invalid_utf8()
    {
        var e = Assert.Throws<RenderException>(() => ContainerdConfig.Render([0x76, 0xFF, 0x0A], Systemd));
        Assert.Contains("UTF-8", e.Message);
    }

    [Theory]
    [InlineData("registry.k8s.io/pause:3.10 --evil")]
    [InlineData("")]
    [InlineData("a\"b")]
    public void Refuses_a_sandbox_image_that_is_not_one_token(string image) =>
        Assert.Throws<RenderException>(() => ContainerdConfig.Render(null, Systemd with { SandboxImage = image }));
}
