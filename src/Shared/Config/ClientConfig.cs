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

    /// <summary>The CA to trust; a <see cref="ConfigException"/> naming the field when it is not a base64 PEM certificate.</summary>
    public X509Certificate2 CaCertificate() => PemData.Certificate(CertificateAuthorityData, "certificateAuthorityData");

    /// <summary>
    /// The client certificate with its private key; a <see cref="ConfigException"/> naming the field when either is not
    /// base64 PEM of its kind, or when the key is not the certificate's.
    /// </summary>
    public X509Certificate2 ClientCertificate() =>
        PemData.CertificateWithKey(ClientCertificateData, ClientKeyData, "clientCertificateData", "clientKeyData");

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

    /// <summary>
    /// Loads and checks a config file, the certificates and key included; failures name the file, and the line for
    /// YAML errors and for a field whose value is wrong.
    /// </summary>
    public static ClientConfig Load(string path)
    {
        var text = ReadText(path, "config");
        ClientConfig config;
        Dictionary<string, FlatYaml.Entry> fields;
        try
        {
            fields = FlatYaml.ReadEntries(text, Fields) ?? throw new ConfigException($"{path}: empty config");
            string Get(string key, string fallback) => fields.TryGetValue(key, out var v) ? v.Value : fallback;
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
        // The certificates and key are checked here, where the file and the lines are known, rather than at first use.
        try
        {
            config.CaCertificate().Dispose();
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"{At(path, fields, "certificateAuthorityData")}: {e.Message}");
        }
        try
        {
            config.ClientCertificate().Dispose();
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"{At(path, fields, e.Field ?? "clientCertificateData")}: {e.Message}");
        }
        return config;
    }

    /// <summary>
    /// A config file's text; a directory, a missing or an unreadable file is a <see cref="ConfigException"/> saying
    /// which (<paramref name="what"/>: "config", "discovery file").
    /// </summary>
    public static string ReadText(string path, string what) =>
        TextFiles.TryRead(path, out var text, out var reason) ? text : throw new ConfigException($"cannot read {what} {path}: {reason}");

    private static string At(string path, Dictionary<string, FlatYaml.Entry> fields, string field) =>
        fields.TryGetValue(field, out var entry) ? $"{path}:{entry.Line}" : path;

    private static string B64(string s) => Convert.ToBase64String(Encoding.ASCII.GetBytes(s));
}

/// <summary>A config file that cannot be used; the message names the file, or <see cref="Field"/> the field at fault.</summary>
public sealed class ConfigException(string message, string? field = null) : Exception(message)
{
    /// <summary>The field whose value is wrong, when the message is about one (and does not name the file yet).</summary>
    public string? Field { get; } = field;
}
