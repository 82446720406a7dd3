using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>
/// The fleet's CAs as the store keeps them. The store is where a coordinator finds its CA: on PostgreSQL it is put there by
/// `init` (so that every coordinator on the database serves the same fleet); on LiteDB the data directory's ca.crt and
/// ca.key, which `init` writes, are copied into the store at the first start (the files stay, as `init` left them).
/// </summary>
public static class FleetAuthorities
{
    /// <summary>A new record for a CA certificate and its key.</summary>
    public static CertificateAuthorityRecord Record(X509Certificate2 cert, ECDsa key, int generation, string state, DateTime createdAt) => new()
    {
        Generation = generation, State = state, CertificatePem = Pki.ToPem(cert), KeyPem = Pki.KeyToPem(key), CreatedAt = createdAt,
    };

    /// <summary>
    /// The CAs the coordinator starts with; on LiteDB, the data directory's CA files are recorded first when the store has
    /// none yet. Refused with a StartupException when a PostgreSQL store holds no CA (a database `init` did not make).
    /// </summary>
    public static IReadOnlyList<CertificateAuthorityRecord> Load(ICoordinatorStore store, DataDirectory dir, bool postgres, TimeProvider time)
    {
        var stored = store.Authorities.List();
        if (stored.Count > 0)
        {
            Check(stored, postgres ? "the store" : dir.Database);
            return stored;
        }
        // A data directory initialised before the CA moved into the store still has its files: they are copied in.
        if (postgres && DataDirectory.Kind(dir.CaCert) != DataDirectory.Entry.File)
        {
            throw new StartupException("the store holds no certificate authority: initialise the fleet with " +
                $"`nodefleet-coordinator init --data-dir {dir.Path} --store ...`, or add this coordinator to the fleet of another " +
                "database with `init --join-store`");
        }
        var (cert, key) = dir.LoadCa();
        using (cert)
        using (key)
        {
            var record = Record(cert, key, 1, CertificateAuthorityRecord.Active, time.GetUtcNow().UtcDateTime);
            store.WriteAsync(s =>
            {
                // Another start racing this one cannot happen (the data directory's lock), but a record is never doubled.
                if (s.Authorities.List().Count == 0) s.Authorities.Insert(record);
            }).GetAwaiter().GetResult();
        }
        return store.Authorities.List();
    }

    /// <summary>The active CA of <paramref name="records"/> with its key.</summary>
    public static (X509Certificate2 Cert, ECDsa Key) Active(IReadOnlyList<CertificateAuthorityRecord> records)
    {
        var active = records.Single(r => r.State == CertificateAuthorityRecord.Active);
        return Parse(active, "the store");
    }

    /// <summary>The CA serving certificates come from, with its key: the oldest kept (the old one until a rotation finishes).</summary>
    public static (X509Certificate2 Cert, ECDsa Key) Serving(IReadOnlyList<CertificateAuthorityRecord> records) =>
        Parse(records.OrderBy(r => r.Generation).First(), "the store");

    /// <summary>The records as the coordinator's <see cref="Security.CertificateAuthority"/> holds them.</summary>
    public static List<Security.CertificateAuthority.Authority> Authorities(IEnumerable<CertificateAuthorityRecord> records, string where) =>
        records.Select(r =>
        {
            var (cert, key) = Parse(r, where);
            return new Security.CertificateAuthority.Authority(r.Generation, r.State, cert, key, r.CreatedAt);
        }).ToList();

    private static void Check(IReadOnlyList<CertificateAuthorityRecord> records, string where)
    {
        var active = records.Count(r => r.State == CertificateAuthorityRecord.Active);
        if (active != 1)
            throw new StartupException($"{where} holds {active} active certificate authorities (generations " +
                $"{string.Join(", ", records.Select(r => $"{r.Generation}:{r.State}"))}); exactly one must be active");
        foreach (var r in records)
        {
            var (cert, key) = Parse(r, where);
            cert.Dispose();
            key.Dispose();
        }
    }

    private static (X509Certificate2 Cert, ECDsa Key) Parse(CertificateAuthorityRecord r, string where)
    {
        X509Certificate2 cert;
        try { cert = X509Certificate2.CreateFromPem(r.CertificatePem); }
        catch (CryptographicException) { throw new StartupException($"{where}: certificate authority generation {r.Generation}: not a PEM certificate"); }
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(r.KeyPem);
            key.ExportParameters(includePrivateParameters: true);
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            cert.Dispose();
            // The key itself is never part of a message.
            throw new StartupException($"{where}: certificate authority generation {r.Generation}: its key is not a PEM private key");
        }
        if (!cert.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            key.Dispose();
            cert.Dispose();
            throw new StartupException($"{where}: certificate authority generation {r.Generation}: its key does not match its certificate");
        }
        return (cert, key);
    }
}
