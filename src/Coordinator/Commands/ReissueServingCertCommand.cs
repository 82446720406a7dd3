using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Config;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.IO;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Commands;

/// <summary>
/// `nodefleet-coordinator reissue-serving-cert`: a new serving key and certificate from the data directory's CA, for a
/// lost serving key or one about to expire. Agents and the CLI trust the CA, not the serving certificate, so nothing
/// else changes; the coordinator serves the new one from its next start.
/// </summary>
public static class ReissueServingCertCommand
{
    /// <param name="Store">The store setting: with PostgreSQL the fleet's CA is there, not in the data directory.</param>
    public sealed record Settings(string DataDir, IReadOnlyList<string> ExtraSans, string Store = "");

    public static int Run(Settings settings, TextWriter output, TimeProvider time)
    {
        InitCommand.CheckSubjectNames(settings.ExtraSans);
        var dir = new DataDirectory(settings.DataDir);
        dir.EnsureExists();
        var (ca, caKey) = LoadCa(settings, dir);
        using var _ = ca;
        using var __ = caKey;

        // The names of the certificate it replaces, when that is still readable; otherwise those `init` gives.
        var (names, from) = ExistingNames(dir.ServingCert) is { Count: > 0 } existing
            ? (existing, $"those of the previous {dir.ServingCert}")
            : (InitCommand.DefaultServingNames(AdvertiseHost(dir)), "this host's names and addresses");
        // A name an earlier version let through (one with a space, say) is not carried over.
        var dropped = names.Where(n => SubjectNames.Problem(n) is not null).ToList();
        names.RemoveAll(dropped.Contains);
        names.AddRange(settings.ExtraSans);

        using var key = Pki.NewKey();
        using var serving = Pki.IssueServing(ca, caKey, key, "nodefleet-coordinator", names, InitCommand.LeafValidity, time.GetUtcNow());
        // The key first: a certificate is never left beside a key it does not match, except for a failure between the
        // two writes, which the coordinator's start-up check names and running this again repairs.
        AtomicFile.WriteAllText(dir.ServingKey, Pki.KeyToPem(key), AtomicFile.Private);
        AtomicFile.WriteAllText(dir.ServingCert, Pki.ToPem(serving), AtomicFile.Public);

        output.WriteLine($"Issued a new serving certificate from the CA of {dir.Path}");
        output.WriteLine($"  certificate:   {dir.ServingCert}");
        output.WriteLine($"  key:           {dir.ServingKey}");
        output.WriteLine($"  serving names: {string.Join(", ", names.Distinct(StringComparer.OrdinalIgnoreCase))} ({from}{(settings.ExtraSans.Count > 0 ? ", and --cert-extra-sans" : "")})");
        if (dropped.Count > 0)
            output.WriteLine($"  dropped:       {string.Join(", ", dropped.Select(n => $"'{n}'"))} (not an IP address or a DNS name)");
        output.WriteLine($"  valid until:   {serving.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm}Z");
        output.WriteLine();
        output.WriteLine("Restart the coordinator to serve it (systemctl restart nodefleet-coordinator).");
        return 0;
    }

    /// <summary>
    /// The CA serving certificates come from (the oldest kept, see <see cref="Security.CertificateAuthority"/>): the
    /// store's — PostgreSQL, or the LiteDB file once a coordinator has run on it — otherwise the data directory's files.
    /// </summary>
    private static (X509Certificate2, ECDsa) LoadCa(Settings settings, DataDirectory dir)
    {
        if (!StoreSetting.IsPostgres(settings.Store))
        {
            if (DataDirectory.Kind(dir.Database) != DataDirectory.Entry.File) return dir.LoadCa();
            IReadOnlyList<Store.CertificateAuthorityRecord> kept;
            try
            {
                using var lite = Store.LiteDb.LiteDbStore.Open(dir.Database);
                kept = lite.Authorities.List();
            }
            catch (IOException e)
            {
                throw new StartupException($"cannot open database {dir.Database}: {e.Message} (stop the coordinator first)");
            }
            catch (InvalidDataException e)
            {
                throw new StartupException(e.Message);
            }
            catch (UnauthorizedAccessException)
            {
                throw new StartupException($"cannot open database {dir.Database}: {DataDirectory.PermissionDenied}");
            }
            return kept.Count == 0 ? dir.LoadCa() : Certificates.FleetAuthorities.Serving(kept);
        }
        StoreSetting.Check(settings.Store);
        using var store = StoreSetting.OpenPostgres(settings.Store);
        var authorities = store.Authorities.List();
        if (authorities.Count == 0)
            throw new StartupException($"store: {((Store.Postgres.PostgresStore)store).Display} holds no certificate authority (no fleet initialised there)");
        return Certificates.FleetAuthorities.Serving(authorities);
    }

    private static List<string> ExistingNames(string path)
    {
        try
        {
            using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(path));
            var names = new List<string>();
            foreach (var ext in cert.Extensions)
            {
                if (ext.Oid?.Value != "2.5.29.17") continue;
                var san = new X509SubjectAlternativeNameExtension(ext.RawData, ext.Critical);
                names.AddRange(san.EnumerateDnsNames());
                names.AddRange(san.EnumerateIPAddresses().Select(ip => ip.ToString()));
            }
            return names;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            return [];
        }
    }

    /// <summary>The host nodes are told to reach the coordinator at, from admin.conf, if it is readable.</summary>
    private static string? AdvertiseHost(DataDirectory dir)
    {
        try
        {
            var uri = Net.GrpcChannels.ToUri(ClientConfig.Load(dir.AdminConf).Coordinator);
            return uri.IdnHost.Trim('[', ']');
        }
        catch (Exception e) when (e is ConfigException or FormatException)
        {
            return null;
        }
    }
}
