using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using NodeFleet.IO;

namespace NodeFleet.Config;

/// <summary>
/// The operator CLI's config (admin.conf), shaped like a kubeconfig: the coordinator address, the CA to trust
/// and the client certificate and key, base64-encoded PEM.
/// </summary>
public sealed class ClientConfig
{
    public const string ApiVersionV1 = "nodefleet.io/v1";

    /// <summary>The file's keys, in the order they are written; admin.conf holds a private key, so it is saved 0600.</summary>
    public static readonly ConfigFormat<ClientConfig> Format = new(
    [
        ConfigField.Text<ClientConfig>("apiVersion", c => c.ApiVersion, (c, v) => c.ApiVersion = v),
        ConfigField.Text<ClientConfig>("kind", c => c.Kind, (c, v) => c.Kind = v),
        ConfigField.Text<ClientConfig>("coordinator", c => c.Coordinator, (c, v) => c.Coordinator = v),
        ConfigField.Text<ClientConfig>("certificateAuthorityData", c => c.CertificateAuthorityData, (c, v) => c.CertificateAuthorityData = v),
        ConfigField.Text<ClientConfig>("clientCertificateData", c => c.ClientCertificateData, (c, v) => c.ClientCertificateData = v),
        ConfigField.Text<ClientConfig>("clientKeyData", c => c.ClientKeyData, (c, v) => c.ClientKeyData = v),
    ], AtomicFile.Private);

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

    /// <summary>Every CA to trust (two during a CA rotation); a <see cref="ConfigException"/> like <see cref="CaCertificate"/>.</summary>
    public X509Certificate2Collection CaCertificates()
    {
        using var first = CaCertificate();
        var pem = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(CertificateAuthorityData.Trim()));
        return NodeFleet.Security.CaBundle.Parse(pem);
    }

    /// <summary>Replaces the CAs to trust with <paramref name="bundlePem"/>.</summary>
    public void SetCaBundle(string bundlePem) => CertificateAuthorityData = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(bundlePem));

    /// <summary>
    /// The client certificate with its private key; a <see cref="ConfigException"/> naming the field when either is not
    /// base64 PEM of its kind, or when the key is not the certificate's.
    /// </summary>
    public X509Certificate2 ClientCertificate() =>
        PemData.CertificateWithKey(ClientCertificateData, ClientKeyData, "clientCertificateData", "clientKeyData");

    public void Save(string path) => Format.Save(path, this);

    /// <summary>
    /// Loads and checks a config file, the certificates and key included; failures name the file, and the line for
    /// YAML errors and for a field whose value is wrong.
    /// </summary>
    public static ClientConfig Load(string path)
    {
        var document = Format.Load(path, "config") ?? throw new ConfigException($"{path}: empty config");
        var config = document.Value;
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
            throw new ConfigException($"{document.At("certificateAuthorityData")}: {e.Message}");
        }
        try
        {
            config.ClientCertificate().Dispose();
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"{document.At(e.Field ?? "clientCertificateData")}: {e.Message}");
        }
        return config;
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.ASCII.GetBytes(s));
}

/// <summary>A config file that cannot be used; the message names the file, or <see cref="Field"/> the field at fault.</summary>
public sealed class ConfigException(string message, string? field = null) : Exception(message)
{
    /// <summary>The field whose value is wrong, when the message is about one (and does not name the file yet).</summary>
    public string? Field { get; } = field;
}
