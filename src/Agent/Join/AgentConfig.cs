using NodeFleet.Agent.Host;
using NodeFleet.Config;
using NodeFleet.IO;
using NodeFleet.Net;
using NodeFleet.Security;

namespace NodeFleet.Agent.Join;

/// <summary>
/// What `join` leaves for `run` — the coordinator addresses and the node's name — and the node's own security settings
/// (/etc/nodefleet/agent.yaml). The settings are the node owner's: nothing a coordinator sends changes them; the one
/// thing coordinators write here is <see cref="Coordinators"/>, the fleet's list of coordinators.
/// </summary>
public sealed class AgentConfig
{
    public string ApiVersion { get; set; } = "nodefleet.io/v1";
    public string Kind { get; set; } = "AgentConfig";
    /// <summary>The coordinator addresses given at join (HOST[:PORT], comma-separated when several).</summary>
    public string Coordinator { get; set; } = "";
    public string NodeName { get; set; } = "";

    /// <summary>The fleet's coordinators as a coordinator last told them (refreshed at every connection); tried first.</summary>
    public List<string> Coordinators { get; set; } = [];

    /// <summary>The addresses the agent tries in turn: the fleet's list, then those given at join that it lacks.</summary>
    public IReadOnlyList<string> Addresses()
    {
        try { return CoordinatorAddressList.Candidates(Coordinators, CoordinatorAddressList.Parse(Coordinator)); }
        catch (FormatException e) { throw new AgentException($"coordinator: {e.Message}"); }
    }

    /// <summary>
    /// Whether artifacts may be downloaded from this host's own and link-local addresses (loopback, 169.254.0.0/16,
    /// fe80::/10, unspecified, cloud metadata). Off by default: a plan's URL there probes the node's local network.
    /// </summary>
    public bool AllowLocalArtifactAddresses { get; set; }

    /// <summary>
    /// Pins ("sha256:" + hex over the SubjectPublicKeyInfo) of the keys whose signed plans this node runs; empty: any
    /// plan, signed or not, as the coordinator sends it.
    /// </summary>
    public List<string> PlanSigners { get; set; } = [];

    /// <summary>The file's keys; it holds no secret (the node's key is a file of its own), so it is saved 0644.</summary>
    public static readonly ConfigFormat<AgentConfig> Format = new(
    [
        ConfigField.Text<AgentConfig>("apiVersion", c => c.ApiVersion, (c, v) => c.ApiVersion = v),
        ConfigField.Text<AgentConfig>("kind", c => c.Kind, (c, v) => c.Kind = v),
        ConfigField.Text<AgentConfig>("coordinator", c => c.Coordinator, (c, v) => c.Coordinator = v),
        ConfigField.Text<AgentConfig>("nodeName", c => c.NodeName, (c, v) => c.NodeName = v),
        new ConfigField<AgentConfig>("coordinators", c => c.Coordinators.Count > 0 ? CoordinatorAddressList.Format(c.Coordinators) : null, (c, v) =>
        {
            try { c.Coordinators = CoordinatorAddressList.Parse(v).ToList(); }
            catch (FormatException e) { return e.Message; }
            return null;
        }),
        new ConfigField<AgentConfig>("allowLocalArtifactAddresses", c => c.AllowLocalArtifactAddresses ? "true" : null, (c, v) =>
        {
            if (v is not ("true" or "false")) return $"expected true or false, not '{v}'";
            c.AllowLocalArtifactAddresses = v == "true";
            return null;
        }),
        // A flat file holds scalars: the pins are one comma-separated value.
        new ConfigField<AgentConfig>("planSigners", c => c.PlanSigners.Count > 0 ? string.Join(",", c.PlanSigners) : null, (c, v) =>
        {
            var pins = new List<string>();
            foreach (var pin in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try { pins.Add(KeyHash.Normalize(pin, "plan signer hash")); }
                catch (FormatException e) { return e.Message; }
            }
            c.PlanSigners = pins.Distinct(StringComparer.Ordinal).ToList();
            return null;
        }),
    ], AtomicFile.Public);

    public void Save(HostRoot root) => Format.Save(root.Path(AgentPaths.ConfigFile), this);

    /// <summary>Loads the config, or null when the node has not joined yet (no file, or one with settings only).</summary>
    public static AgentConfig? Load(HostRoot root)
    {
        var c = Settings(root);
        if (c.Coordinator.Trim().Length == 0 && c.NodeName.Trim().Length == 0) return null;
        if (string.IsNullOrWhiteSpace(c.Coordinator) || string.IsNullOrWhiteSpace(c.NodeName))
            throw new AgentException($"{root.Path(AgentPaths.ConfigFile)}: coordinator and nodeName are required");
        return c;
    }

    /// <summary>
    /// The file as it is, joined or not (a node that only applies local plans may hold just its settings); the defaults
    /// when there is no file. Read on each use, so a setting changed in the file holds from the next plan on.
    /// </summary>
    public static AgentConfig Settings(HostRoot root)
    {
        var path = root.Path(AgentPaths.ConfigFile);
        if (!File.Exists(path)) return new AgentConfig();
        try { return Format.Load(path, "agent config")?.Value ?? new AgentConfig(); }
        catch (ConfigException e) { throw new AgentException(e.Message); }
    }
}

/// <summary>An error the agent reports as is and exits non-zero.</summary>
public sealed class AgentException(string message) : Exception(message);
