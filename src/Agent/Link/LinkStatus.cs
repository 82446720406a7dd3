using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Config;
using NodeFleet.IO;

namespace NodeFleet.Agent.Link;

/// <summary>The link's state as last written by `run`, read by `status` (/var/lib/nodefleet-agent/link.yaml).</summary>
public sealed class LinkStatus
{
    /// <summary>
    /// Where agents before link.yaml kept the link's state, as JSON: a JSON object is a YAML flow mapping with the same
    /// keys, so the one format reads it, until the agent's next write replaces it.
    /// </summary>
    internal const string JsonPath = "/var/lib/nodefleet-agent/link.json";

    public string State { get; set; } = "starting";
    public string Coordinator { get; set; } = "";
    public string NodeName { get; set; } = "";
    public DateTime Since { get; set; }
    public DateTime? LastHeartbeatAck { get; set; }
    public string LastError { get; set; } = "";
    public int Pid { get; set; }
    /// <summary>When the agent next renews its certificate (or retries a failed renewal).</summary>
    public DateTime? CertificateRenewAt { get; set; }
    /// <summary>Why the last renewal failed; empty once one succeeds.</summary>
    public string CertificateRenewalError { get; set; } = "";
    /// <summary>The reconnect window the coordinator last told, in seconds (0: none told).</summary>
    public int ReconnectWindowSeconds { get; set; }

    /// <summary>The file's keys; readable by all, as `status` needs no privilege.</summary>
    public static readonly ConfigFormat<LinkStatus> Format = new(
    [
        ConfigField.Text<LinkStatus>("state", s => s.State, (s, v) => s.State = v),
        ConfigField.Text<LinkStatus>("coordinator", s => s.Coordinator, (s, v) => s.Coordinator = v),
        ConfigField.Text<LinkStatus>("nodeName", s => s.NodeName, (s, v) => s.NodeName = v),
        ConfigField.Time<LinkStatus>("since", s => s.Since, (s, v) => s.Since = v ?? default),
        ConfigField.Time<LinkStatus>("lastHeartbeatAck", s => s.LastHeartbeatAck, (s, v) => s.LastHeartbeatAck = v),
        ConfigField.Text<LinkStatus>("lastError", s => s.LastError, (s, v) => s.LastError = v),
        ConfigField.Integer<LinkStatus>("pid", s => s.Pid, (s, v) => s.Pid = v),
        ConfigField.Time<LinkStatus>("certificateRenewAt", s => s.CertificateRenewAt, (s, v) => s.CertificateRenewAt = v),
        ConfigField.Text<LinkStatus>("certificateRenewalError", s => s.CertificateRenewalError, (s, v) => s.CertificateRenewalError = v),
        ConfigField.Integer<LinkStatus>("reconnectWindowSeconds", s => s.ReconnectWindowSeconds, (s, v) => s.ReconnectWindowSeconds = v),
    ], AtomicFile.Public);

    public void Save(HostRoot root)
    {
        Format.Save(root.Path(AgentPaths.LinkStatus), this);
        File.Delete(root.Path(JsonPath));
    }

    /// <summary>The state last written, or null when `run` never wrote one; a damaged file is an error naming its line.</summary>
    public static LinkStatus? Load(HostRoot root)
    {
        var path = root.Path(AgentPaths.LinkStatus);
        if (!File.Exists(path)) path = root.Path(JsonPath);
        if (!File.Exists(path)) return null;
        try { return Format.Load(path, "link state")?.Value; }
        catch (ConfigException e) { throw new AgentException(e.Message); }
    }
}
