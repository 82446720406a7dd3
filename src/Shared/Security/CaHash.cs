using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NodeFleet.Security;

/// <summary>The pin of a CA: "sha256:" + hex of SHA-256 over its DER SubjectPublicKeyInfo (kubeadm's --discovery-token-ca-cert-hash).</summary>
public static class CaHash
{
    public const string Prefix = "sha256:";

    public static string Of(X509Certificate2 ca) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(ca.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>Normalises a user-given pin, failing with a message naming the expected format.</summary>
    public static string Normalize(string pin)
    {
        var p = pin.Trim();
        if (!p.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
            throw new FormatException($"CA certificate hash '{pin}' must have the form sha256:<64 hex digits>");
        var hex = p[Prefix.Length..].ToLowerInvariant();
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
            throw new FormatException($"CA certificate hash '{pin}' must have the form sha256:<64 hex digits>");
        return Prefix + hex;
    }

    public static bool Matches(X509Certificate2 ca, string pin) =>
        string.Equals(Of(ca), Normalize(pin), StringComparison.Ordinal);
}

/// <summary>
/// A key pin in the CA hash's form, "sha256:" + hex of SHA-256 over a DER SubjectPublicKeyInfo, for any public key
/// (plan signer keys).
/// </summary>
public static class KeyHash
{
    public static string Of(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        CaHash.Prefix + Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>Normalises a user-given pin, failing with a message naming <paramref name="what"/> and the expected format.</summary>
    public static string Normalize(string pin, string what)
    {
        var p = pin.Trim();
        var hex = p.StartsWith(CaHash.Prefix, StringComparison.OrdinalIgnoreCase) ? p[CaHash.Prefix.Length..].ToLowerInvariant() : "";
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
            throw new FormatException($"{what} '{pin}' must have the form sha256:<64 hex digits>");
        return CaHash.Prefix + hex;
    }
}
