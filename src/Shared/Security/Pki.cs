using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace NodeFleet.Security;

/// <summary>Certificate roles, carried in the subject's O attribute (as Kubernetes does with groups).</summary>
public static class Roles
{
    public const string Nodes = "nodefleet:nodes";
    public const string Admins = "nodefleet:admins";
}

/// <summary>What a certificate is checked for: a TLS client (node, operator) or the coordinator's TLS server.</summary>
public enum CertificateUsage
{
    Client,
    Server,
}

/// <summary>Creates keys, CAs, CSRs and certificates (ECDSA P-256, SHA-256).</summary>
public static class Pki
{
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    public static ECDsa NewKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public static X509Certificate2 CreateCa(ECDsa key, string commonName, TimeSpan validity, DateTimeOffset now)
    {
        var req = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        return req.CreateSelfSigned(now.AddMinutes(-5), now.Add(validity));
    }

    /// <summary>A TLS serving certificate for the given DNS names and IP addresses.</summary>
    public static X509Certificate2 IssueServing(X509Certificate2 ca, ECDsa caKey, ECDsa key, string commonName,
        IEnumerable<string> sans, TimeSpan validity, DateTimeOffset now)
    {
        var req = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var s in sans.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            // Not IPAddress.TryParse alone, which reads "10" or "1.2.3" as addresses; an IPv6 address with a zone is one.
            if (SubjectNames.TryParseIp(s, out var ip) || (s.Contains(':') && IPAddress.TryParse(s, out ip))) san.AddIpAddress(ip);
            else san.AddDnsName(s);
        }
        req.CertificateExtensions.Add(san.Build());
        AddLeafExtensions(req, ServerAuth);
        return Sign(req, ca, caKey, validity, now);
    }

    /// <summary>
    /// A client certificate with CN = <paramref name="commonName"/>, O = <paramref name="role"/> and, for an operator,
    /// OU = its <see cref="OperatorRole"/> (<paramref name="unit"/>).
    /// </summary>
    public static X509Certificate2 IssueClient(X509Certificate2 ca, ECDsa caKey, PublicKey publicKey, string commonName,
        string role, TimeSpan validity, DateTimeOffset now, string? unit = null)
    {
        var req = new CertificateRequest(Subject(commonName, role, unit), publicKey, HashAlgorithmName.SHA256);
        AddLeafExtensions(req, ClientAuth);
        return Sign(req, ca, caKey, validity, now);
    }

    public static X500DistinguishedName Subject(string commonName, string role, string? unit = null)
    {
        var b = new X500DistinguishedNameBuilder();
        b.AddOrganizationName(role);
        if (unit is not null) b.AddOrganizationalUnitName(unit);
        b.AddCommonName(commonName);
        return b.Build();
    }

    /// <summary>A PKCS#10 request in PEM for a node key.</summary>
    public static string CreateCsrPem(ECDsa key, string commonName)
    {
        var req = new CertificateRequest(Subject(commonName, Roles.Nodes), key, HashAlgorithmName.SHA256);
        return req.CreateSigningRequestPem();
    }

    /// <summary>Parses and checks the self-signature of a CSR; only its public key is used afterwards.</summary>
    public static PublicKey ReadCsrPublicKey(string csrPem)
    {
        var req = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.Default);
        return req.PublicKey;
    }

    /// <summary>The subject of a CSR (parsed and its self-signature checked) with its public key.</summary>
    public static (string CommonName, string? Role, PublicKey Key) ReadCsr(string csrPem)
    {
        var req = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.Default);
        string? cn = null, o = null;
        foreach (var rdn in req.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            var oid = rdn.GetSingleElementType().Value;
            if (oid == "2.5.4.3") cn = rdn.GetSingleElementValue();
            else if (oid == "2.5.4.10") o = rdn.GetSingleElementValue();
        }
        return (cn ?? "", o, req.PublicKey);
    }

    /// <summary>
    /// The moment to renew a certificate: a random point between 70 % and 90 % of its validity period (client-go's
    /// certificate manager rule), so that a fleet joined together does not renew together.
    /// </summary>
    public static DateTimeOffset RenewalTime(DateTimeOffset notBefore, DateTimeOffset notAfter, double random)
    {
        var lifetime = notAfter - notBefore;
        return notBefore + lifetime * (0.7 + 0.2 * Math.Clamp(random, 0, 1));
    }

    /// <summary>Whether the certificate's serial is the given one (serials compared as hex, case ignored).</summary>
    public static string SerialOf(X509Certificate2 cert) => cert.SerialNumber.ToUpperInvariant();

    public static string SpkiSha256(PublicKey key) =>
        Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    /// <summary>
    /// Checks that <paramref name="cert"/> chains to <paramref name="ca"/>, is valid at <paramref name="now"/> and
    /// names <paramref name="usage"/> in its extended key usage. The usage is what keeps the fleet's certificates apart:
    /// the same CA signs the coordinator's serving certificate (serverAuth) and every node's and operator's client
    /// certificate (clientAuth only), so a node's certificate must never pass as the coordinator's. A certificate
    /// without the extension (valid for any use by the X.509 rules) is refused: this CA always writes it.
    /// </summary>
    public static bool ChainsTo(X509Certificate2 cert, X509Certificate2 ca, CertificateUsage usage, DateTimeOffset now)
    {
        var oid = usage == CertificateUsage.Server ? ServerAuth : ClientAuth;
        if (!HasUsage(cert, oid)) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(oid);
        if (!chain.Build(cert)) return false;
        var root = chain.ChainElements[^1].Certificate;
        return root.RawData.AsSpan().SequenceEqual(ca.RawData);
    }

    private static bool HasUsage(X509Certificate2 cert, Oid usage)
    {
        foreach (var extension in cert.Extensions)
        {
            if (extension.Oid?.Value != "2.5.29.37") continue;
            var eku = extension as X509EnhancedKeyUsageExtension ?? new X509EnhancedKeyUsageExtension(extension, extension.Critical);
            foreach (var oid in eku.EnhancedKeyUsages)
                if (oid.Value == usage.Value) return true;
        }
        return false;
    }

    public static (string CommonName, string? Role) ReadSubject(X509Certificate2 cert)
    {
        string? cn = null, o = null;
        foreach (var rdn in cert.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            var oid = rdn.GetSingleElementType().Value;
            if (oid == "2.5.4.3") cn = rdn.GetSingleElementValue();
            else if (oid == "2.5.4.10") o = rdn.GetSingleElementValue();
        }
        return (cn ?? "", o);
    }

    /// <summary>The subject's OU, where an operator certificate carries its <see cref="OperatorRole"/>; null when absent.</summary>
    public static string? ReadUnit(X509Certificate2 cert)
    {
        foreach (var rdn in cert.SubjectName.EnumerateRelativeDistinguishedNames())
            if (rdn.GetSingleElementType().Value == "2.5.4.11") return rdn.GetSingleElementValue();
        return null;
    }

    public static string ToPem(X509Certificate2 cert) => cert.ExportCertificatePem();

    public static string KeyToPem(ECDsa key) => key.ExportPkcs8PrivateKeyPem();

    private static void AddLeafExtensions(CertificateRequest req, Oid usage)
    {
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { usage }, false));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
    }

    private static X509Certificate2 Sign(CertificateRequest req, X509Certificate2 ca, ECDsa caKey, TimeSpan validity,
        DateTimeOffset now)
    {
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f; // positive
        var notAfter = now.Add(validity);
        if (notAfter > ca.NotAfter) notAfter = ca.NotAfter;
        var generator = X509SignatureGenerator.CreateForECDsa(caKey);
        // Backdated for clocks a little behind, but by a tenth of a short lifetime at most: renewal is timed on the
        // validity period, which a five-minute backdate would swallow for a certificate of a minute.
        var backdate = TimeSpan.FromTicks(Math.Min(MaxBackdate.Ticks, validity.Ticks / 10));
        return req.Create(ca.SubjectName, generator, now - backdate, notAfter, serial);
    }

    private static readonly TimeSpan MaxBackdate = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The validity a certificate signed here was issued for: its period less the backdate added when it was signed, so
    /// that a certificate renewed for as long as the one it replaces does not grow by that backdate at every renewal.
    /// </summary>
    public static TimeSpan IssuedValidity(X509Certificate2 certificate)
    {
        var period = certificate.NotAfter - certificate.NotBefore;
        // The backdate is a tenth of the validity up to a validity of 50 minutes (a period of 55), five minutes beyond.
        return period >= MaxBackdate * 11 ? period - MaxBackdate : period / 1.1;
    }
}
