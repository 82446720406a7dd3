using System.Security.Cryptography.X509Certificates;
using NodeFleet.Config;
using NodeFleet.IO;
using YamlDotNet.Core;

namespace NodeFleet.Agent.Join;

/// <summary>
/// File-based discovery (kubeadm's --discovery-file): the coordinator address and the CA to trust, given out of
/// band. Same keys as admin.conf, so an admin.conf stripped of its client certificate and key will do.
/// </summary>
public sealed class DiscoveryFile
{
    public string ApiVersion { get; set; } = "nodefleet.io/v1";
    public string Kind { get; set; } = "Config";
    public string Coordinator { get; set; } = "";
    public string CertificateAuthorityData { get; set; } = "";

    private static readonly string[] Fields = ["apiVersion", "kind", "coordinator", "certificateAuthorityData"];

    /// <summary>
    /// The coordinator address and CA of a discovery file; failures name the file, and the line for YAML errors
    /// and for a certificateAuthorityData that is not a base64 PEM certificate.
    /// </summary>
    public static (string Address, X509Certificate2 Ca) Load(string path)
    {
        if (!TextFiles.TryRead(path, out var text, out var reason))
            throw new AgentException($"cannot read discovery file {path}: {reason}");
        DiscoveryFile f;
        Dictionary<string, FlatYaml.Entry> fields;
        try
        {
            fields = FlatYaml.ReadEntries(text, Fields, ignoreUnknown: true)
                ?? throw new AgentException($"discovery file {path} is empty");
            string Get(string key, string fallback) => fields.TryGetValue(key, out var v) ? v.Value : fallback;
            f = new DiscoveryFile
            {
                ApiVersion = Get("apiVersion", "nodefleet.io/v1"),
                Kind = Get("kind", "Config"),
                Coordinator = Get("coordinator", ""),
                CertificateAuthorityData = Get("certificateAuthorityData", ""),
            };
        }
        catch (YamlException e)
        {
            throw new AgentException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}");
        }
        if (string.IsNullOrWhiteSpace(f.CertificateAuthorityData))
            throw new AgentException($"discovery file {path}: certificateAuthorityData is missing");
        try
        {
            return (f.Coordinator, PemData.Certificate(f.CertificateAuthorityData, "certificateAuthorityData"));
        }
        catch (ConfigException e)
        {
            throw new AgentException($"discovery file {path}:{fields["certificateAuthorityData"].Line}: {e.Message}");
        }
    }
}
