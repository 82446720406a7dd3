using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace NodeFleet.Config;

/// <summary>
/// The base64-encoded PEM fields of the config files (certificateAuthorityData, clientCertificateData,
/// clientKeyData), decoded with errors that name the field and say what is wrong with it, never a .NET message.
/// </summary>
public static class PemData
{
    private static readonly string[] PrivateKeyLabels = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"];

    /// <summary>The PEM text of a base64 field.</summary>
    public static string Decode(string base64, string field)
    {
        try
        {
            return Encoding.ASCII.GetString(Convert.FromBase64String(base64.Trim()));
        }
        catch (FormatException)
        {
            throw new ConfigException($"{field} is not valid base64 (expected a base64-encoded PEM {What(field)})", field);
        }
    }

    /// <summary>The certificate of a base64 PEM field.</summary>
    public static X509Certificate2 Certificate(string base64, string field)
    {
        var pem = Decode(base64, field);
        if (!PemEncoding.TryFind(pem, out var found) || pem[found.Label] != "CERTIFICATE")
            throw new ConfigException($"{field} is not a PEM certificate", field);
        try
        {
            return X509Certificate2.CreateFromPem(pem);
        }
        catch (CryptographicException)
        {
            throw new ConfigException($"{field} is not a valid PEM certificate (its content is damaged)", field);
        }
    }

    /// <summary>
    /// The client certificate of <paramref name="certificateField"/> with the private key of
    /// <paramref name="keyField"/>, telling a field that is not a key from a key that is not the certificate's.
    /// </summary>
    public static X509Certificate2 CertificateWithKey(string certificateBase64, string keyBase64,
        string certificateField, string keyField)
    {
        using var certificate = Certificate(certificateBase64, certificateField);
        var keyPem = Decode(keyBase64, keyField);
        if (!PemEncoding.TryFind(keyPem, out var found) || !PrivateKeyLabels.Contains(keyPem[found.Label]))
            throw new ConfigException($"{keyField} is not a PEM private key", keyField);
        try
        {
            return X509Certificate2.CreateFromPem(Decode(certificateBase64, certificateField), keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // Much the same exceptions for a damaged key, a key of another algorithm and another certificate's key.
            throw new ConfigException(IsReadableKey(keyPem)
                ? $"{keyField} does not match {certificateField}"
                : $"{keyField} is not a valid PEM private key (its content is damaged)", keyField);
        }
    }

    private static bool IsReadableKey(string pem)
    {
        foreach (var create in new Func<AsymmetricAlgorithm>[] { ECDsa.Create, RSA.Create })
        {
            using var key = create();
            try
            {
                key.ImportFromPem(pem);
                return true;
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                // not this algorithm
            }
        }
        return false;
    }

    private static string What(string field) => field.Contains("Key", StringComparison.Ordinal) ? "private key" : "certificate";
}
