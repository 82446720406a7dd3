using NodeFleet.Agent.Host;
using NodeFleet.Config;
using NodeFleet.IO;

namespace NodeFleet.Agent.Join;

/// <summary>What `join` leaves for `run`: the coordinator address and the node's name (/etc/nodefleet/agent.yaml).</summary>
public sealed class AgentConfig
{
    public string ApiVersion { get; set; } = "nodefleet.io/v1";
    public string Kind { get; set; } = "AgentConfig";
    public string Coordinator { get; set; } = "";
    public string NodeName { get; set; } = "";

    /// <summary>The file's keys; it holds no secret (the node's key is a file of its own), so it is saved 0644.</summary>
    public static readonly ConfigFormat<AgentConfig> Format = new(
    [
        ConfigField.Text<AgentConfig>("apiVersion", c => c.ApiVersion, (c, v) => c.ApiVersion = v),
        ConfigField.Text<AgentConfig>("kind", c => c.Kind, (c, v) => c.Kind = v),
        ConfigField.Text<AgentConfig>("coordinator", c => c.Coordinator, (c, v) => c.Coordinator = v),
        ConfigField.Text<AgentConfig>("nodeName", c => c.NodeName, (c, v) => c.NodeName = v),
    ], AtomicFile.Public);

    public void Save(HostRoot root) => Format.Save(root.Path(AgentPaths.ConfigFile), this);

    /// <summary>Loads the config, or null when the node has not joined yet.</summary>
    public static AgentConfig? Load(HostRoot root)
    {
        var path = root.Path(AgentPaths.ConfigFile);
        if (!File.Exists(path)) return null;
        AgentConfig? c;
        try { c = Format.Load(path, "agent config")?.Value; }
        catch (ConfigException e) { throw new AgentException(e.Message); }
        if (c is null || string.IsNullOrWhiteSpace(c.Coordinator) || string.IsNullOrWhiteSpace(c.NodeName))
            throw new AgentException($"{path}: coordinator and nodeName are required");
        return c;
    }
}

/// <summary>An error the agent reports as is and exits non-zero.</summary>
public sealed class AgentException(string message) : Exception(message);
