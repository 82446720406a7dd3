using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace NodeFleet.Security;

/// <summary>
/// A trust bundle: one or more CA certificates in PEM, concatenated. During a CA rotation the fleet trusts two; agents
/// keep the bundle in ca.crt and CLI configs in certificateAuthorityData.
/// </summary>
public static class CaBundle
{
    /// <summary>The certificates of <paramref name="pem"/>, in order; a CryptographicException when there is none.</summary>
    public static X509Certificate2Collection Parse(string pem)
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPem(pem);
        if (all.Count == 0) throw new CryptographicException("no PEM certificate found");
        return all;
    }

    /// <summary>"sha256:" + hex over the bundle's text, as an agent acknowledges the bundle it stored.</summary>
    public static string Hash(string pem) => CaHash.Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(pem)));

    /// <summary>Whether <paramref name="cert"/> chains to one of <paramref name="cas"/> for <paramref name="usage"/> at <paramref name="now"/>.</summary>
    public static bool ChainsToAny(X509Certificate2 cert, X509Certificate2Collection cas, CertificateUsage usage, DateTimeOffset now)
    {
        foreach (var ca in cas)
        {
            if (Pki.ChainsTo(cert, ca, usage, now)) return true;
        }
        return false;
    }
}
