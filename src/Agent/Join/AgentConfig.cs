using NodeFleet.Agent.Host;
using NodeFleet.IO;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace NodeFleet.Agent.Join;

/// <summary>What `join` leaves for `run`: the coordinator address and the node's name (/etc/nodefleet/agent.yaml).</summary>
public sealed class AgentConfig
{
    public string ApiVersion { get; set; } = "nodefleet.io/v1";
    public string Kind { get; set; } = "AgentConfig";
    public string Coordinator { get; set; } = "";
    public string NodeName { get; set; } = "";

    public void Save(HostRoot root) =>
        AtomicFile.WriteAllText(root.Path(AgentPaths.ConfigFile),
            new SerializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build().Serialize(this),
            AtomicFile.Public);

    /// <summary>Loads the config, or null when the node has not joined yet.</summary>
    public static AgentConfig? Load(HostRoot root)
    {
        var path = root.Path(AgentPaths.ConfigFile);
        if (!File.Exists(path)) return null;
        try
        {
            var c = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build()
                .Deserialize<AgentConfig>(File.ReadAllText(path));
            if (c is null || string.IsNullOrWhiteSpace(c.Coordinator) || string.IsNullOrWhiteSpace(c.NodeName))
                throw new AgentException($"{path}: coordinator and nodeName are required");
            return c;
        }
        catch (YamlException e)
        {
            throw new AgentException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}");
        }
    }
}

/// <summary>An error the agent reports as is and exits non-zero.</summary>
public sealed class AgentException(string message) : Exception(message);
