using System.Security.Cryptography.X509Certificates;
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
        public string Link { get; set; } = "";
        public DateTime? LinkSince { get; set; }
        public string LastError { get; set; } = "";
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
        var certPath = root.Path(AgentPaths.NodeCert);
        if (File.Exists(certPath))
        {
            using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(certPath));
            report.CertificateNotAfter = cert.NotAfter.ToUniversalTime();
        }
        var link = LinkStatus.Load(root);
        if (link is not null)
        {
            var running = link.Pid > 0 && Directory.Exists($"/proc/{link.Pid}");
            report.Link = running ? link.State : "agent not running";
            report.LinkSince = running ? link.Since : null;
            report.LastError = running ? link.LastError : "";
        }
        else report.Link = "agent not running";
        return report;
    }

    public static int Run(HostRoot root, string? output, TextWriter o)
    {
        var r = Collect(root);
        if (output == "json")
        {
            o.WriteLine(JsonSerializer.Serialize(r, StatusJson.Default.Report));
            return r.Joined ? 0 : 1;
        }
        if (!r.Joined)
        {
            o.WriteLine($"Not joined (no {root.Path(AgentPaths.ConfigFile)}). Run `nodefleet-agent join --token ... --ca-cert-hash ... ADDRESS`.");
            return 1;
        }
        o.WriteLine($"Node:          {r.NodeName}");
        o.WriteLine($"Coordinator:   {r.Coordinator}");
        o.WriteLine($"Certificate:   valid until {r.CertificateNotAfter:yyyy-MM-ddTHH:mm:ssZ}");
        o.WriteLine($"Link:          {r.Link}{(r.LinkSince is { } s ? $" since {s:yyyy-MM-ddTHH:mm:ssZ}" : "")}");
        if (r.LastError.Length > 0) o.WriteLine($"Last error:    {r.LastError}");
        return 0;
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(StatusCommand.Report))]
internal sealed partial class StatusJson : JsonSerializerContext;
