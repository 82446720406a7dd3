using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;
using NodeFleet.IO;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>The agent's own files (agent.yaml, the link state) through the one config format, on a scratch root.</summary>
public sealed class AgentFilesTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HostRoot _root;

    public AgentFilesTests() => _root = new HostRoot(_dir.Path);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_agent_config_round_trips_is_readable_by_all_and_keeps_its_format()
    {
        new AgentConfig { Coordinator = "10.0.0.5:7443", NodeName = "node-1" }.Save(_root);
        var path = _root.Path(AgentPaths.ConfigFile);
        Assert.Equal(AtomicFile.Public, File.GetUnixFileMode(path));
        Assert.Equal("apiVersion: nodefleet.io/v1\nkind: AgentConfig\ncoordinator: 10.0.0.5:7443\nnodeName: node-1\n", File.ReadAllText(path));
        var loaded = AgentConfig.Load(_root)!;
        Assert.Equal(("10.0.0.5:7443", "node-1"), (loaded.Coordinator, loaded.NodeName));
    }

    [Fact]
    public void The_agent_config_refuses_an_unknown_key_with_file_and_line_and_requires_its_fields()
    {
        Assert.Null(AgentConfig.Load(_root));
        var path = _root.Path(AgentPaths.ConfigFile);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "coordinator: h:1\nnodeName: n\nnodename: m\n");
        Assert.StartsWith($"{path}:3: unknown field 'nodename'", Assert.Throws<AgentException>(() => AgentConfig.Load(_root)).Message);
        File.WriteAllText(path, "coordinator: h:1\n");
        Assert.Equal($"{path}: coordinator and nodeName are required", Assert.Throws<AgentException>(() => AgentConfig.Load(_root)).Message);
    }

    [Fact]
    public void The_security_settings_round_trip_and_a_settings_only_file_is_not_a_join()
    {
        var path = _root.Path(AgentPaths.ConfigFile);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var pin = "sha256:" + new string('a', 64);
        File.WriteAllText(path, $"allowLocalArtifactAddresses: true\nplanSigners: {pin.ToUpperInvariant().Replace("SHA256:", "sha256:")}, {pin}\n");

        Assert.Null(AgentConfig.Load(_root));
        var settings = AgentConfig.Settings(_root);
        Assert.True(settings.AllowLocalArtifactAddresses);
        Assert.Equal([pin], settings.PlanSigners);

        settings.Coordinator = "10.0.0.5:7443";
        settings.NodeName = "node-1";
        settings.Save(_root);
        Assert.Equal("apiVersion: nodefleet.io/v1\nkind: AgentConfig\ncoordinator: 10.0.0.5:7443\nnodeName: node-1\n" +
            $"allowLocalArtifactAddresses: true\nplanSigners: {pin}\n", File.ReadAllText(path));

        File.WriteAllText(path, "planSigners: sha256:abc\n");
        Assert.StartsWith($"{path}:1: planSigners: plan signer hash 'sha256:abc' must have the form sha256:<64 hex digits>",
            Assert.Throws<AgentException>(() => AgentConfig.Settings(_root)).Message);
        File.WriteAllText(path, "allowLocalArtifactAddresses: yes\n");
        Assert.StartsWith($"{path}:1: allowLocalArtifactAddresses: expected true or false, not 'yes'",
            Assert.Throws<AgentException>(() => AgentConfig.Settings(_root)).Message);
    }

    [Fact]
    public void The_link_state_round_trips_as_yaml_readable_by_all()
    {
        var since = new DateTime(2026, 12, 7, 1, 2, 3, DateTimeKind.Utc);
        new LinkStatus { State = "connected", Coordinator = "h:1", NodeName = "n", Since = since, LastError = "x: y # z", Pid = 4242,
            ReconnectWindowSeconds = 50 }.Save(_root);
        var path = _root.Path(AgentPaths.LinkStatus);
        Assert.EndsWith(".yaml", path);
        Assert.Equal(AtomicFile.Public, File.GetUnixFileMode(path));
        var loaded = LinkStatus.Load(_root)!;
        Assert.Equal(("connected", "h:1", "n", since, (DateTime?)null, "x: y # z", 4242),
            (loaded.State, loaded.Coordinator, loaded.NodeName, loaded.Since, loaded.LastHeartbeatAck, loaded.LastError, loaded.Pid));
        Assert.Equal(50, loaded.ReconnectWindowSeconds);
    }

    // What an agent before link.yaml wrote (System.Text.Json, camelCase, indented) is read until the next write replaces it.
    [Fact]
    public void The_link_state_an_earlier_agent_wrote_as_json_still_loads_and_the_next_save_replaces_it()
    {
        var json = _root.Path(LinkStatus.JsonPath);
        Directory.CreateDirectory(Path.GetDirectoryName(json)!);
        File.WriteAllText(json, """
            {
              "state": "connected",
              "coordinator": "10.0.0.5:7443",
              "nodeName": "node-1",
              "since": "2026-12-07T01:02:03.456789Z",
              "lastHeartbeatAck": null,
              "lastError": "",
              "pid": 77
            }
            """);
        var old = LinkStatus.Load(_root)!;
        Assert.Equal(("connected", "node-1", 77, (DateTime?)null), (old.State, old.NodeName, old.Pid, old.LastHeartbeatAck));
        Assert.Equal(new DateTime(2026, 12, 7, 1, 2, 3, DateTimeKind.Utc).AddTicks(4567890), old.Since);

        new LinkStatus { State = "reconnecting", Pid = 78 }.Save(_root);
        Assert.False(File.Exists(json));
        Assert.Equal("reconnecting", LinkStatus.Load(_root)!.State);
    }

    [Fact]
    public void A_damaged_link_state_names_the_file_and_line()
    {
        Assert.Null(LinkStatus.Load(_root));
        var path = _root.Path(AgentPaths.LinkStatus);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "state: connected\npid: lots\n");
        Assert.Equal($"{path}:2: pid: expected a whole number, not 'lots'", Assert.Throws<AgentException>(() => LinkStatus.Load(_root)).Message);
    }
}
