using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using NodeFleet.IO;
using YamlDotNet.Core;

namespace NodeFleet.Config;

/// <summary>
/// The operator CLI's config (admin.conf), shaped like a kubeconfig: the coordinator address, the CA to trust
/// and the client certificate and key, base64-encoded PEM.
/// </summary>
public sealed class ClientConfig
{
    public const string ApiVersionV1 = "nodefleet.io/v1";

    private static readonly string[] Fields =
        ["apiVersion", "kind", "coordinator", "certificateAuthorityData", "clientCertificateData", "clientKeyData"];

    public string ApiVersion { get; set; } = ApiVersionV1;
    public string Kind { get; set; } = "Config";
    public string Coordinator { get; set; } = "";
    public string CertificateAuthorityData { get; set; } = "";
    public string ClientCertificateData { get; set; } = "";
    public string ClientKeyData { get; set; } = "";

    public static ClientConfig Create(string coordinator, string caPem, string certPem, string keyPem) => new()
    {
        Coordinator = coordinator,
        CertificateAuthorityData = B64(caPem),
        ClientCertificateData = B64(certPem),
        ClientKeyData = B64(keyPem),
    };

    public X509Certificate2 CaCertificate() => X509Certificate2.CreateFromPem(Decode(CertificateAuthorityData, "certificateAuthorityData"));

    public X509Certificate2 ClientCertificate()
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(Decode(ClientKeyData, "clientKeyData"));
        using var cert = X509Certificate2.CreateFromPem(Decode(ClientCertificateData, "clientCertificateData"));
        return cert.CopyWithPrivateKey(key);
    }

    public void Save(string path)
    {
        var yaml = FlatYaml.Write(new Dictionary<string, string>
        {
            ["apiVersion"] = ApiVersion,
            ["kind"] = Kind,
            ["coordinator"] = Coordinator,
            ["certificateAuthorityData"] = CertificateAuthorityData,
            ["clientCertificateData"] = ClientCertificateData,
            ["clientKeyData"] = ClientKeyData,
        });
        AtomicFile.WriteAllText(path, yaml, AtomicFile.Private);
    }

    /// <summary>Loads and checks a config file; failures name the file (and line, for YAML errors).</summary>
    public static ClientConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read config {path}: {e.Message}");
        }
        ClientConfig config;
        try
        {
            var fields = FlatYaml.Read(text, Fields) ?? throw new ConfigException($"{path}: empty config");
            string Get(string key, string fallback) => fields.TryGetValue(key, out var v) ? v : fallback;
            config = new ClientConfig
            {
                ApiVersion = Get("apiVersion", ApiVersionV1),
                Kind = Get("kind", "Config"),
                Coordinator = Get("coordinator", ""),
                CertificateAuthorityData = Get("certificateAuthorityData", ""),
                ClientCertificateData = Get("clientCertificateData", ""),
                ClientKeyData = Get("clientKeyData", ""),
            };
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{path}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}");
        }
        if (config.ApiVersion != ApiVersionV1 || config.Kind != "Config")
            throw new ConfigException($"{path}: expected apiVersion {ApiVersionV1}, kind Config");
        foreach (var (name, value) in new[] { ("coordinator", config.Coordinator), ("certificateAuthorityData", config.CertificateAuthorityData),
                     ("clientCertificateData", config.ClientCertificateData), ("clientKeyData", config.ClientKeyData) })
        {
            if (string.IsNullOrWhiteSpace(value)) throw new ConfigException($"{path}: {name} is missing");
        }
        return config;
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.ASCII.GetBytes(s));

    private static string Decode(string b64, string field)
    {
        try { return Encoding.ASCII.GetString(Convert.FromBase64String(b64)); }
        catch (FormatException) { throw new ConfigException($"{field} is not valid base64"); }
    }
}

/// <summary>A config file that cannot be used; the message names the file.</summary>
public sealed class ConfigException(string message) : Exception(message);
