using System.Text.Json;
using System.Text.Json.Serialization;
using NodeFleet.Agent.Host;
using NodeFleet.IO;

namespace NodeFleet.Agent.Link;

/// <summary>The link's state as last written by `run`, read by `status` (/var/lib/nodefleet-agent/link.json).</summary>
public sealed class LinkStatus
{
    public string State { get; set; } = "starting";
    public string Coordinator { get; set; } = "";
    public string NodeName { get; set; } = "";
    public DateTime Since { get; set; }
    public DateTime? LastHeartbeatAck { get; set; }
    public string LastError { get; set; } = "";
    public int Pid { get; set; }

    public void Save(HostRoot root) =>
        AtomicFile.WriteAllText(root.Path(AgentPaths.LinkStatus), JsonSerializer.Serialize(this, LinkStatusJson.Default.LinkStatus),
            AtomicFile.Public);

    public static LinkStatus? Load(HostRoot root)
    {
        var path = root.Path(AgentPaths.LinkStatus);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize(File.ReadAllText(path), LinkStatusJson.Default.LinkStatus); }
        catch (JsonException) { return null; }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LinkStatus))]
internal sealed partial class LinkStatusJson : JsonSerializerContext;
