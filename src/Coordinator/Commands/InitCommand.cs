using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using NodeFleet.Config;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.IO;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Commands;

/// <summary>`nodefleet-coordinator init`: creates the data directory, the CA, certificates, admin.conf and the database.</summary>
public static class InitCommand
{
    public static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);
    public static readonly TimeSpan LeafValidity = TimeSpan.FromDays(365);

    /// <param name="Store">The store setting: "" for the LiteDB file in the data directory, or PostgreSQL (<see cref="StoreSetting"/>).</param>
    /// <param name="JoinStore">Add a coordinator to the fleet the PostgreSQL store already holds, rather than start one.</param>
    public sealed record Settings(string DataDir, IReadOnlyList<string> ExtraSans, string? AdvertiseAddress, string Store = "", bool JoinStore = false);

    public static int Run(Settings settings, TextWriter output, TimeProvider time)
    {
        var dir = new DataDirectory(settings.DataDir);
        CheckSubjectNames(settings.ExtraSans);
        var advertise = settings.AdvertiseAddress ?? $"{DefaultAdvertiseHost()}:7443";
        Uri advertiseUri;
        try { advertiseUri = Net.GrpcChannels.ToUri(advertise); }
        catch (FormatException e) { throw new StartupException($"--advertise-address: {e.Message}"); }
        if (SubjectNames.Problem(advertiseUri.IdnHost.Trim('[', ']')) is { } advertiseProblem)
            throw new StartupException($"--advertise-address '{advertise}': '{advertiseUri.IdnHost}' is not an IP address or a DNS name: {advertiseProblem}");
        var advertiseHostPort = $"{advertiseUri.Host}:{advertiseUri.Port}";
        if (settings.JoinStore && !StoreSetting.IsPostgres(settings.Store))
            throw new StartupException("--join-store adds a coordinator to a fleet kept in PostgreSQL: give the fleet's --store postgres://...");
        dir.EnsureCreatable();
        var now = time.GetUtcNow();
        if (settings.JoinStore) return JoinStore(settings, dir, advertiseUri, output, now);
        // PostgreSQL is reached, migrated and found empty before anything is written: a failure leaves nothing behind.
        using var postgres = StoreSetting.IsPostgres(settings.Store) ? OpenEmptyPostgres(settings.Store) : null;

        CreateDirectories(dir);

        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "nodefleet-ca", CaValidity, now);

        using var servingKey = Pki.NewKey();
        var sans = DefaultServingNames(advertiseUri.IdnHost.Trim('[', ']'));
        sans.AddRange(settings.ExtraSans);
        using var serving = Pki.IssueServing(ca, caKey, servingKey, "nodefleet-coordinator", sans, LeafValidity, now);

        using var adminKey = Pki.NewKey();
        using var admin = Pki.IssueClient(ca, caKey, new System.Security.Cryptography.X509Certificates.PublicKey(adminKey),
            "admin", Roles.Admins, LeafValidity, now, OperatorRoles.Admin);
        // Recorded like the certificates `nodefleet admin issue` makes, so that `admin list` and `admin revoke` know it.
        var adminRecord = new OperatorCertificateRecord
        {
            Serial = Pki.SerialOf(admin), Name = "admin", Role = OperatorRoles.Admin, IssuedAt = StoredTime.Of(admin.NotBefore.ToUniversalTime()),
            ExpiresAt = StoredTime.Of(admin.NotAfter.ToUniversalTime()), IssuedBy = Events.Actor.Coordinator,
            CaGeneration = 1,
        };

        var cluster = new ClusterRecord { AdvertiseAddress = advertiseHostPort, CreatedAt = now.UtcDateTime };
        if (postgres is not null)
        {
            // The CA lives in the store, where every coordinator of the fleet finds it (`init --join-store`); the data
            // directory keeps this coordinator's serving key and certificate, the latter last: it marks the directory
            // initialised.
            var authority = Certificates.FleetAuthorities.Record(ca, caKey, 1, CertificateAuthorityRecord.Active, now.UtcDateTime);
            AtomicFile.WriteAllText(dir.ServingKey, Pki.KeyToPem(servingKey), AtomicFile.Private);
            ClientConfig.Create(advertiseHostPort, Pki.ToPem(ca), Pki.ToPem(admin), Pki.KeyToPem(adminKey)).Save(dir.AdminConf);
            try
            {
                postgres.WriteAsync(s =>
                {
                    s.Authorities.Insert(authority);
                    s.Cluster.Put(cluster);
                    s.OperatorCertificates.Put(adminRecord);
                }).GetAwaiter().GetResult();
            }
            catch (Errors.AlreadyExistsException)
            {
                // Another `init` on the same database won the race.
                throw new StartupException($"store: {((Store.Postgres.PostgresStore)postgres).Display} already holds a fleet: a new fleet needs an empty database");
            }
            AtomicFile.WriteAllText(dir.ServingCert, Pki.ToPem(serving), AtomicFile.Public);
        }
        else
        {
            // Keys first, all 0600; the CA certificate last, since its presence marks the directory initialised.
            AtomicFile.WriteAllText(dir.CaKey, Pki.KeyToPem(caKey), AtomicFile.Private);
            AtomicFile.WriteAllText(dir.ServingKey, Pki.KeyToPem(servingKey), AtomicFile.Private);
            AtomicFile.WriteAllText(dir.ServingCert, Pki.ToPem(serving), AtomicFile.Public);
            ClientConfig.Create(advertiseHostPort, Pki.ToPem(ca), Pki.ToPem(admin), Pki.KeyToPem(adminKey)).Save(dir.AdminConf);
            using (var store = Store.LiteDb.LiteDbStore.Open(dir.Database))
                store.WriteAsync(s => { s.Cluster.Put(cluster); s.OperatorCertificates.Put(adminRecord); }).GetAwaiter().GetResult();
            File.SetUnixFileMode(dir.Database, AtomicFile.Private);
            AtomicFile.WriteAllText(dir.CaCert, Pki.ToPem(ca), AtomicFile.Public);
        }

        output.WriteLine($"Initialised {dir.Path}");
        output.WriteLine($"  CA certificate:    {(postgres is null ? dir.CaCert : "in the store (certificate_authorities)")}");
        output.WriteLine($"  CA hash:           {CaHash.Of(ca)}");
        output.WriteLine($"  serving names:     {string.Join(", ", sans.Distinct(StringComparer.OrdinalIgnoreCase))}");
        output.WriteLine($"  admin config:      {dir.AdminConf}");
        output.WriteLine($"  advertise address: {advertiseHostPort}");
        output.WriteLine($"  store:             {(postgres is Store.Postgres.PostgresStore pg ? pg.Display : dir.Database)}");
        output.WriteLine();
        output.WriteLine("Next: start the coordinator with");
        output.WriteLine(postgres is null
            ? $"  nodefleet-coordinator run --data-dir {dir.Path}"
            : $"  nodefleet-coordinator run --data-dir {dir.Path} --store ... (the same store, or store: in coordinator.yaml)");
        output.WriteLine("and create a join token with");
        output.WriteLine($"  nodefleet --config {dir.AdminConf} token create --print-join-command");
        return 0;
    }

    private static void CreateDirectories(DataDirectory dir)
    {
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        try
        {
            Directory.CreateDirectory(dir.Path, ownerOnly);
            Directory.CreateDirectory(dir.PkiDir, ownerOnly);
        }
        catch (UnauthorizedAccessException)
        {
            throw new StartupException($"cannot create data directory {dir.Path}: {DataDirectory.PermissionDenied}");
        }
    }

    /// <summary>
    /// `init --join-store`: one more coordinator for the fleet the PostgreSQL store holds. Its data directory gets only its
    /// own serving key and certificate, signed by the fleet's active CA: agents and CLI configs of the fleet trust it as
    /// they trust the others. No admin.conf: the fleet's configs work against every coordinator (`nodefleet admin issue`
    /// makes more).
    /// </summary>
    private static int JoinStore(Settings settings, DataDirectory dir, Uri advertiseUri, TextWriter output, DateTimeOffset now)
    {
        StoreSetting.Check(settings.Store);
        using var store = StoreSetting.OpenPostgres(settings.Store);
        var where = ((Store.Postgres.PostgresStore)store).Display;
        var cluster = store.Cluster.Get();
        var authorities = store.Authorities.List();
        if (cluster is null || authorities.Count == 0)
            throw new StartupException($"store: {where} holds no fleet yet: initialise the first coordinator with " +
                "`nodefleet-coordinator init --store ...` (without --join-store)");
        var (caCert, caKey) = Certificates.FleetAuthorities.Active(authorities);
        using var _ = caCert;
        using var __ = caKey;

        CreateDirectories(dir);
        using var servingKey = Pki.NewKey();
        var sans = DefaultServingNames(advertiseUri.IdnHost.Trim('[', ']'));
        sans.AddRange(settings.ExtraSans);
        using var serving = Pki.IssueServing(caCert, caKey, servingKey, "nodefleet-coordinator", sans, LeafValidity, now);
        // The key first; the certificate marks the directory initialised.
        AtomicFile.WriteAllText(dir.ServingKey, Pki.KeyToPem(servingKey), AtomicFile.Private);
        AtomicFile.WriteAllText(dir.ServingCert, Pki.ToPem(serving), AtomicFile.Public);

        output.WriteLine($"Added {dir.Path} to the fleet of {where}");
        output.WriteLine($"  CA hash:           {CaHash.Of(caCert)}");
        output.WriteLine($"  serving names:     {string.Join(", ", sans.Distinct(StringComparer.OrdinalIgnoreCase))}");
        output.WriteLine($"  fleet initialised: {cluster.CreatedAt:yyyy-MM-dd HH:mm:ss}Z (advertise address {cluster.AdvertiseAddress})");
        output.WriteLine();
        output.WriteLine("Next: start the coordinator with");
        output.WriteLine($"  nodefleet-coordinator run --data-dir {dir.Path} --store ... (the same store, or store: in coordinator.yaml)");
        output.WriteLine("The fleet's admin configs work against it too (nodefleet --coordinator HOST:PORT ...).");
        return 0;
    }

    /// <summary>The PostgreSQL store, refused when it already holds a fleet (its cluster record): init starts a new one.</summary>
    private static ICoordinatorStore OpenEmptyPostgres(string setting)
    {
        StoreSetting.Check(setting);
        var store = StoreSetting.OpenPostgres(setting);
        if (store.Cluster.Get() is { } existing)
        {
            var where = ((Store.Postgres.PostgresStore)store).Display;
            store.Dispose();
            throw new StartupException(
                $"store: {where} already holds a fleet (initialised {existing.CreatedAt:yyyy-MM-dd HH:mm:ss}Z, advertise address " +
                $"{existing.AdvertiseAddress}): a new fleet needs an empty database; to add this coordinator to that fleet, " +
                "run `init --join-store` with the same --store");
        }
        return store;
    }

    /// <summary>The names `init` gives the serving certificate before --cert-extra-sans.</summary>
    public static List<string> DefaultServingNames(string? advertiseHost)
    {
        var names = new List<string> { "localhost", "127.0.0.1", "::1", Dns.GetHostName() };
        if (advertiseHost is not null) names.Add(advertiseHost);
        names.AddRange(HostAddresses());
        return names;
    }

    /// <summary>Refuses a name the serving certificate must not carry, before anything is written.</summary>
    public static void CheckSubjectNames(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (SubjectNames.Problem(name) is { } problem)
                throw new StartupException($"--cert-extra-sans '{name}': not an IP address or a DNS name: {problem}");
        }
    }

    internal static IEnumerable<string> HostAddresses()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .Where(i => i.OperationalStatus == OperationalStatus.Up)
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .Where(a => a.AddressFamily == AddressFamily.InterNetwork ||
                            (a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal))
                .Select(a => a.ToString())
                .ToList();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    private static string DefaultAdvertiseHost() =>
        HostAddresses().FirstOrDefault(a => IPAddress.TryParse(a, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(ip))
        ?? "127.0.0.1";
}
