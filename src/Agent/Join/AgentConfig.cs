using NodeFleet.Agent.Host;
using NodeFleet.Config;
using NodeFleet.IO;
using YamlDotNet.Core;

namespace NodeFleet.Agent.Join;

/// <summary>What `join` leaves for `run`: the coordinator address and the node's name (/etc/nodefleet/agent.yaml).</summary>
public sealed class AgentConfig
{
    public string ApiVersion { get; set; } = "nodefleet.io/v1";
    public string Kind { get; set; } = "AgentConfig";
    public string Coordinator { get; set; } = "";
    public string NodeName { get; set; } = "";

    private static readonly string[] Fields = ["apiVersion", "kind", "coordinator", "nodeName"];

    public void Save(HostRoot root) =>
        AtomicFile.WriteAllText(root.Path(AgentPaths.ConfigFile),
            FlatYaml.Write(new Dictionary<string, string>
            {
                ["apiVersion"] = ApiVersion, ["kind"] = Kind, ["coordinator"] = Coordinator, ["nodeName"] = NodeName,
            }),
            AtomicFile.Public);

    /// <summary>Loads the config, or null when the node has not joined yet.</summary>
    public static AgentConfig? Load(HostRoot root)
    {
        var path = root.Path(AgentPaths.ConfigFile);
        if (!File.Exists(path)) return null;
        try
        {
            var fields = FlatYaml.Read(File.ReadAllText(path), Fields);
            var c = fields is null ? null : new AgentConfig
            {
                ApiVersion = fields.GetValueOrDefault("apiVersion", "nodefleet.io/v1"),
                Kind = fields.GetValueOrDefault("kind", "AgentConfig"),
                Coordinator = fields.GetValueOrDefault("coordinator", ""),
                NodeName = fields.GetValueOrDefault("nodeName", ""),
            };
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
