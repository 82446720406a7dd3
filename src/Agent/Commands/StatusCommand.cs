using System.Text.Json;
using System.Text.Json.Serialization;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;

namespace NodeFleet.Agent.Commands;

/// <summary>`nodefleet-agent status`: what this node knows of itself, read from local files only.</summary>
public static class StatusCommand
{
    public sealed class Report
    {
        public bool Joined { get; set; }
        public string NodeName { get; set; } = "";
        public string Coordinator { get; set; } = "";
        public DateTime? CertificateNotAfter { get; set; }
        /// <summary>Why the node's identity (CA, certificate, key) cannot be used, or empty.</summary>
        public string IdentityProblem { get; set; } = "";
        /// <summary>The plan signer pins of agent.yaml: empty, any plan runs.</summary>
        public List<string> PlanSigners { get; set; } = [];
        public string Link { get; set; } = "";
        public DateTime? LinkSince { get; set; }
        public string LastError { get; set; } = "";
        public DateTime? CertificateRenewAt { get; set; }
        public string CertificateRenewalError { get; set; } = "";
        /// <summary>The coordinator's reconnect window, in seconds: after a broken stream the agent reconnects within it (0: none told).</summary>
        public int ReconnectWindowSeconds { get; set; }
        public string Root { get; set; } = "";
    }

    public static Report Collect(HostRoot root)
    {
        var report = new Report { Root = root.Root };
        var config = AgentConfig.Load(root);
        if (config is null) return report;
        report.Joined = true;
        report.NodeName = config.NodeName;
        report.Coordinator = config.Coordinator;
        report.PlanSigners = config.PlanSigners;
        try
        {
            var (ca, cert) = NodeIdentity.Load(root);
            report.CertificateNotAfter = cert.NotAfter.ToUniversalTime();
            ca.Dispose();
            cert.Dispose();
        }
        catch (AgentException e) { report.IdentityProblem = e.Message; }
        var link = LinkStatus.Load(root);
        if (link is not null)
        {
            var running = link.Pid > 0 && root.Kernel.Exists($"/proc/{link.Pid}");
            report.Link = running ? link.State : "agent not running";
            report.LinkSince = running ? link.Since : null;
            report.LastError = running ? link.LastError : "";
            report.CertificateRenewAt = running ? link.CertificateRenewAt : null;
            report.CertificateRenewalError = running ? link.CertificateRenewalError : "";
            report.ReconnectWindowSeconds = running ? link.ReconnectWindowSeconds : 0;
        }
        else report.Link = "agent not running";
        return report;
    }

    /// <summary>Prints the report: 0 when joined with a usable identity, 1 otherwise.</summary>
    public static int Run(HostRoot root, string? output, TextWriter o)
    {
        if (output is not (null or "text" or "json")) throw new ArgumentException($"--output: unknown format '{output}' (text or json)");
        var r = Collect(root);
        var healthy = r.Joined && r.IdentityProblem.Length == 0 && !(r.CertificateNotAfter <= DateTime.UtcNow);
        if (output == "json")
        {
            o.WriteLine(JsonSerializer.Serialize(r, StatusJson.Default.Report));
            return healthy ? 0 : 1;
        }
        if (!r.Joined)
        {
            var config = root.Path(AgentPaths.ConfigFile);
            o.WriteLine($"Not joined (no {(File.Exists(config) ? "coordinator in " : "")}{config}). Run `nodefleet-agent join --token ... --ca-cert-hash ... ADDRESS`.");
            return 1;
        }
        o.WriteLine($"Node:          {r.NodeName}");
        o.WriteLine($"Coordinator:   {r.Coordinator}");
        o.WriteLine(r.IdentityProblem.Length > 0
            ? $"Certificate:   UNUSABLE: {r.IdentityProblem}"
            : r.CertificateNotAfter <= DateTime.UtcNow
                ? $"Certificate:   EXPIRED at {r.CertificateNotAfter:yyyy-MM-ddTHH:mm:ssZ}: the coordinator refuses it; join again with a token " +
                  "(`nodefleet-agent join --token TOKEN --ca-cert-hash HASH ADDRESS`)"
                : $"Certificate:   valid until {r.CertificateNotAfter:yyyy-MM-ddTHH:mm:ssZ}" +
                  (r.CertificateRenewAt is { } at ? $", renewed at {at:yyyy-MM-ddTHH:mm:ssZ}" : ""));
        if (r.CertificateRenewalError.Length > 0) o.WriteLine($"Renewal error: {r.CertificateRenewalError}");
        o.WriteLine(r.PlanSigners.Count > 0
            ? $"Plans:         only signed by {string.Join(" or ", r.PlanSigners)}"
            : "Plans:         any (no plan signer pinned)");
        o.WriteLine($"Link:          {r.Link}{(r.LinkSince is { } s ? $" since {s:yyyy-MM-ddTHH:mm:ssZ}" : "")}");
        if (r.ReconnectWindowSeconds > 0) o.WriteLine($"Reconnect:     within {r.ReconnectWindowSeconds}s of a broken stream (the coordinator's window)");
        if (r.LastError.Length > 0) o.WriteLine($"Last error:    {r.LastError}");
        return healthy ? 0 : 1;
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(StatusCommand.Report))]
internal sealed partial class StatusJson : JsonSerializerContext;
