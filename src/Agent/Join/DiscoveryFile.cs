using System.Security.Cryptography.X509Certificates;
using System.Text;
using NodeFleet.Config;
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

    public static (string Address, X509Certificate2 Ca) Load(string path)
    {
        DiscoveryFile f;
        try
        {
            var fields = FlatYaml.Read(File.ReadAllText(path), Fields, ignoreUnknown: true)
                ?? throw new AgentException($"discovery file {path} is empty");
            f = new DiscoveryFile
            {
                ApiVersion = fields.GetValueOrDefault("apiVersion", "nodefleet.io/v1"),
                Kind = fields.GetValueOrDefault("kind", "Config"),
                Coordinator = fields.GetValueOrDefault("coordinator", ""),
                CertificateAuthorityData = fields.GetValueOrDefault("certificateAuthorityData", ""),
            };
        }
        catch (YamlException e)
        {
            throw new AgentException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}");
        }
        catch (IOException e)
        {
            throw new AgentException($"cannot read discovery file {path}: {e.Message}");
        }
        if (string.IsNullOrWhiteSpace(f.CertificateAuthorityData))
            throw new AgentException($"discovery file {path}: certificateAuthorityData is missing");
        try
        {
            var pem = Encoding.ASCII.GetString(Convert.FromBase64String(f.CertificateAuthorityData));
            return (f.Coordinator, X509Certificate2.CreateFromPem(pem));
        }
        catch (Exception e) when (e is FormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new AgentException($"discovery file {path}: certificateAuthorityData is not a base64 PEM certificate ({e.Message})");
        }
    }
}
