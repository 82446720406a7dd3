using System.Text.Json.Nodes;
using NodeFleet.Rendering;

namespace NodeFleet.Tests.Rendering;

public class DockerDaemonJsonTests
{
    private static readonly DockerSettings Systemd = new(CgroupDriver.Systemd, [MirrorRenderersTests.DockerHub, MirrorRenderersTests.Quay]);

    [Fact]
    public void Renders_from_scratch()
    {
        var bytes = DockerDaemonJson.Render(null, Systemd);
        Golden.Matches("daemon.new.json", bytes);
        Assert.Equal(bytes, DockerDaemonJson.Render(Utf8.Bytes(" \n"), Systemd));
    }

    [Fact]
    public void Merges_keeping_unrelated_keys_in_their_order()
    {
        var bytes = DockerDaemonJson.Render(Golden.Input("daemon-existing.json"), Systemd);
        Golden.Matches("daemon.merged.json", bytes);
        var root = JsonNode.Parse(Utf8.Text(bytes))!.AsObject();
        Assert.Equal(
            ["data-root", "log-driver", "log-opts", "exec-opts", "storage-driver", "registry-mirrors", "insecure-registries",
             "features", "default-address-pools", "live-restore", "max-concurrent-downloads"],
            root.Select(p => p.Key));
        Assert.Equal(["native.cgroupdriver=systemd", "native.umask=normal"], root["exec-opts"]!.AsArray().Select(o => (string)o!));
        Assert.Equal(["https://mirror.example", "http://cache.lab:5000"], root["registry-mirrors"]!.AsArray().Select(o => (string)o!));
        Assert.Equal("/data/docker", (string)root["data-root"]!);
        Assert.Equal("json-file", (string)root["log-driver"]!);
    }

    [Fact]
    public void Is_idempotent()
    {
        var once = DockerDaemonJson.Render(Golden.Input("daemon-existing.json"), Systemd);
        Assert.Equal(once, DockerDaemonJson.Render(once, Systemd));
        var fresh = DockerDaemonJson.Render(null, Systemd with { CgroupDriver = CgroupDriver.Cgroupfs });
        Assert.Equal(fresh, DockerDaemonJson.Render(fresh, Systemd with { CgroupDriver = CgroupDriver.Cgroupfs }));
    }

    [Fact]
    public void Keeps_exactly_one_cgroup_driver_option_where_the_first_was()
    {
        const string input = """{"exec-opts": ["native.umask=normal", " Native.CgroupDriver = cgroupfs", "x=y", "native.cgroupdriver=systemd"]}""";
        var root = JsonNode.Parse(Utf8.Text(DockerDaemonJson.Render(Utf8.Bytes(input), new DockerSettings(CgroupDriver.Cgroupfs, []))))!;
        Assert.Equal(["native.umask=normal", "native.cgroupdriver=cgroupfs", "x=y"], root["exec-opts"]!.AsArray().Select(o => (string)o!));
    }

    [Fact]
    public void Appends_new_keys_and_removes_mirrors_when_there_is_no_docker_hub_mirror()
    {
        const string input = "{\n  \"log-driver\": \"journald\",\n  \"registry-mirrors\": [\"https://old.example\"]\n}\n";
        var text = Utf8.Text(DockerDaemonJson.Render(Utf8.Bytes(input), new DockerSettings(CgroupDriver.Systemd, [MirrorRenderersTests.Quay])));
        Assert.Equal("{\n  \"log-driver\": \"journald\",\n  \"exec-opts\": [\n    \"native.cgroupdriver=systemd\"\n  ]\n}\n", text);
    }

    [Fact]
    public void Writes_non_ascii_and_plus_signs_readably()
    {
        const string input = """{"labels": ["owner=équipe+nodes"]}""";
        Assert.Contains("\"owner=équipe+nodes\"", Utf8.Text(DockerDaemonJson.Render(Utf8.Bytes(input), Systemd)));
    }

    [Fact]
    public void Refuses_invalid_json_naming_line_and_position()
    {
        const string input = "{\n  \"log-driver\": \"json-file\",\n  \"data-root\" \"/data\"\n}\n";
        var e = Assert.Throws<RenderException>(() => DockerDaemonJson.Render(Utf8.Bytes(input), Systemd));
        Assert.StartsWith("docker daemon.json is not valid JSON (line 3, position 15)", e.Message);
    }

    [Theory]
    [InlineData("{\n  // comment\n  \"a\": 1\n}", "line 2")]
    [InlineData("{\"a\": 1,}", "line 1")]
    [InlineData("{\n  \"a\": 1,\n  \"a\": 2\n}", "line 3, position 3")]
    public void Refuses_what_dockerd_would_not_read(string input, string where)
    {
        var e = Assert.Throws<RenderException>(() => DockerDaemonJson.Render(Utf8.Bytes(input), Systemd));
        Assert.Contains(where, e.Message);
    }

    [Theory]
    [InlineData("[]", "not a JSON object")]
    [InlineData("{\"exec-opts\": \"native.cgroupdriver=systemd\"}", "list of strings")]
    [InlineData("{\"exec-opts\": [1]}", "list of strings")]
    public void Refuses_shapes_it_cannot_merge(string input, string message)
    {
        var e = Assert.Throws<RenderException>(() => DockerDaemonJson.Render(Utf8.Bytes(input), Systemd));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Reports_mirrors_docker_cannot_apply()
    {
        var exclusiveHub = MirrorRenderersTests.DockerHub with { Exclusive = true };
        var limits = DockerDaemonJson.Limitations([exclusiveHub, MirrorRenderersTests.Quay, MirrorRenderersTests.K8sExclusive]);
        Assert.Collection(limits,
            l => { Assert.Same(exclusiveHub, l.Mirror); Assert.False(l.Ignored); Assert.Contains("cannot be made exclusive", l.Reason); },
            l => { Assert.Same(MirrorRenderersTests.Quay, l.Mirror); Assert.True(l.Ignored); Assert.Contains("quay.io", l.Reason); },
            l => { Assert.Same(MirrorRenderersTests.K8sExclusive, l.Mirror); Assert.True(l.Ignored); });
        Assert.Empty(DockerDaemonJson.Limitations([MirrorRenderersTests.DockerHub]));
    }
}
