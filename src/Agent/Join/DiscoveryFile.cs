using System.Security.Cryptography.X509Certificates;
using NodeFleet.Config;
using NodeFleet.IO;

namespace NodeFleet.Agent.Join;

/// <summary>
/// File-based discovery (kubeadm's --discovery-file): the coordinator address and the CA to trust, given out of
/// band. Same keys as admin.conf, so an admin.conf, with or without its client certificate and key, will do.
/// </summary>
public sealed class DiscoveryFile
{
    public string ApiVersion { get; set; } = "nodefleet.io/v1";
    public string Kind { get; set; } = "Config";
    public string Coordinator { get; set; } = "";
    public string CertificateAuthorityData { get; set; } = "";

    /// <summary>The keys read; the rest of an admin.conf (its client certificate and key) is skipped.</summary>
    public static readonly ConfigFormat<DiscoveryFile> Format = new(
    [
        ConfigField.Text<DiscoveryFile>("apiVersion", f => f.ApiVersion, (f, v) => f.ApiVersion = v),
        ConfigField.Text<DiscoveryFile>("kind", f => f.Kind, (f, v) => f.Kind = v),
        ConfigField.Text<DiscoveryFile>("coordinator", f => f.Coordinator, (f, v) => f.Coordinator = v),
        ConfigField.Text<DiscoveryFile>("certificateAuthorityData", f => f.CertificateAuthorityData, (f, v) => f.CertificateAuthorityData = v),
    ], AtomicFile.Public, ignoreUnknown: true);

    /// <summary>
    /// The coordinator address and CA of a discovery file; failures name the file, and the line for YAML errors
    /// and for a certificateAuthorityData that is not a base64 PEM certificate.
    /// </summary>
    public static (string Address, X509Certificate2 Ca) Load(string path)
    {
        ConfigDocument<DiscoveryFile> document;
        try
        {
            document = Format.Load(path, "discovery file") ?? throw new AgentException($"discovery file {path} is empty");
        }
        catch (ConfigException e)
        {
            throw new AgentException(e.Message);
        }
        var f = document.Value;
        if (string.IsNullOrWhiteSpace(f.CertificateAuthorityData))
            throw new AgentException($"discovery file {path}: certificateAuthorityData is missing");
        try
        {
            return (f.Coordinator, PemData.Certificate(f.CertificateAuthorityData, "certificateAuthorityData"));
        }
        catch (ConfigException e)
        {
            throw new AgentException($"discovery file {document.At("certificateAuthorityData")}: {e.Message}");
        }
    }
}
