using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>The coordinator's data directory layout and its start-up checks.</summary>
public sealed class DataDirectory
{
    public const string DefaultPath = "/var/lib/nodefleet";

    public DataDirectory(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new StartupException("data directory path is empty");
        try { Path = System.IO.Path.GetFullPath(path); }
        catch (ArgumentException) { throw new StartupException($"data directory '{path}' is not a valid path"); }
    }

    public string Path { get; }
    public string PkiDir => System.IO.Path.Combine(Path, "pki");
    public string CaCert => System.IO.Path.Combine(PkiDir, "ca.crt");
    public string CaKey => System.IO.Path.Combine(PkiDir, "ca.key");
    public string ServingCert => System.IO.Path.Combine(PkiDir, "serving.crt");
    public string ServingKey => System.IO.Path.Combine(PkiDir, "serving.key");
    public string AdminConf => System.IO.Path.Combine(Path, "admin.conf");
    public string Database => System.IO.Path.Combine(Path, Store.LiteDb.LiteDbStore.FileName);

    public string LockFile => System.IO.Path.Combine(Path, "coordinator.lock");

    /// <summary>
    /// True once `init` has written the CA certificate (its last file), a database, or (with PostgreSQL, where the CA is in
    /// the store) the serving certificate.
    /// </summary>
    public bool IsInitialized => Initialized is not null;

    /// <summary>The file that marks the directory initialised, or null.</summary>
    private string? Initialized => new[] { CaCert, Database, ServingCert }.FirstOrDefault(f => Kind(f) == Entry.File);

    /// <summary>What is at a path (see <see cref="Kind"/>).</summary>
    public enum Entry { Missing, File, Directory }

    /// <summary>`init`'s checks before it writes anything: the path can become this data directory.</summary>
    public void EnsureCreatable()
    {
        switch (Kind(Path))
        {
            case Entry.File:
                throw new StartupException($"data directory {Path} is not a directory");
            case Entry.Missing:
                // Directory.CreateDirectory would fail with "The file already exists" or "Could not find a part of the path".
                for (var parent = System.IO.Path.GetDirectoryName(Path); parent is not null; parent = System.IO.Path.GetDirectoryName(parent))
                {
                    var kind = Kind(parent);
                    if (kind == Entry.Directory) break;
                    if (kind == Entry.File) throw new StartupException($"cannot create data directory {Path}: {parent} is not a directory");
                }
                return;
        }
        EnsureListable();
        if (Kind(PkiDir) == Entry.File) throw new StartupException($"{PkiDir} is not a directory");
        foreach (var f in new[] { CaCert, CaKey, ServingCert, ServingKey, AdminConf, Database, LockFile })
        {
            if (Kind(f) == Entry.Directory) throw new StartupException($"{f} is a directory, not a file");
        }
        if (Initialized is { } found)
        {
            throw new StartupException($"{Path} is already initialised (found {found}); refusing to overwrite its CA");
        }
    }

    /// <summary>`run`'s checks: throws with a message an operator can act on when the directory cannot be used.</summary>
    /// <param name="databaseFile">Whether the state is in the directory's LiteDB file (not in PostgreSQL).</param>
    public void EnsureUsable(bool databaseFile = true)
    {
        EnsureExists();
        // With PostgreSQL the CA is in the store (FleetAuthorities): the directory holds this coordinator's own files.
        var pki = databaseFile ? new[] { CaCert, CaKey, ServingCert, ServingKey } : new[] { ServingCert, ServingKey };
        if (pki.All(f => Kind(f) == Entry.Missing) && Kind(Database) == Entry.Missing)
            throw new StartupException($"data directory {Path} is not initialised: run `nodefleet-coordinator init --data-dir {Path}`");
        // Neither the CA nor the database, but this coordinator's own files: the directory of a coordinator on PostgreSQL,
        // started without its store setting (rather than a LiteDB directory that lost three files at once).
        if (databaseFile && new[] { CaCert, CaKey, Database }.All(f => Kind(f) == Entry.Missing))
            throw new StartupException($"database {Database} is missing, and so is the CA: a data directory initialised with --store " +
                "keeps its state and its CA in the store: give the coordinator the same store setting (store: in coordinator.yaml, " +
                $"NODEFLEET_STORE or --store); otherwise restore them from a backup of {Path}");
        foreach (var f in pki)
        {
            switch (Kind(f))
            {
                case Entry.Missing: throw new StartupException(Missing(f));
                case Entry.Directory: throw new StartupException($"{f} is a directory, not a file");
            }
            try { using var _ = File.OpenRead(f); }
            catch (FileNotFoundException) { throw new StartupException(Missing(f)); } // a dangling symbolic link
            catch (UnauthorizedAccessException) { throw new StartupException($"cannot read {f}: {PermissionDenied}"); }
            catch (IOException e) { throw new StartupException($"cannot read {f}: {e.Message}"); }
        }
        var probe = System.IO.Path.Combine(Path, $".write-probe-{Environment.ProcessId}");
        try
        {
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (UnauthorizedAccessException)
        {
            throw new StartupException($"data directory {Path} is not writable: {PermissionDenied}");
        }
        catch (IOException e)
        {
            throw new StartupException($"data directory {Path} is not writable: {e.Message}");
        }
        if (Kind(LockFile) == Entry.Directory) throw new StartupException($"{LockFile} is a directory, not a file");
        if (!databaseFile) return;
        switch (Kind(Database))
        {
            case Entry.Missing:
                // `init` created it: without it the coordinator would start over silently, knowing no node, token or
                // rollout (every agent then refused). Starting over is a decision, made by creating an empty file.
                throw new StartupException($"database {Database} is missing (the data directory was initialised): restore it " +
                    $"from a backup of {Path}; to start over with no nodes, tokens or rollouts, create it empty " +
                    $"(`install -m 0600 /dev/null {Database}`, owned by the user the coordinator runs as); a data directory " +
                    "initialised with --store keeps its state there: give the coordinator the same store setting");
            case Entry.Directory:
                throw new StartupException($"database {Database} is a directory, not a database file");
            case Entry.File:
                try { using var _ = new FileStream(Database, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite); }
                catch (UnauthorizedAccessException)
                {
                    throw new StartupException($"database {Database} cannot be opened for writing: {PermissionDenied}");
                }
                catch (IOException e)
                {
                    throw new StartupException($"database {Database} cannot be opened for writing: {e.Message}");
                }
                break;
        }
    }

    /// <summary>The directory is there, and this user may look inside.</summary>
    public void EnsureExists()
    {
        switch (Kind(Path))
        {
            case Entry.Missing:
                throw new StartupException($"data directory {Path} does not exist: run `nodefleet-coordinator init --data-dir {Path}` first");
            case Entry.File:
                throw new StartupException($"data directory {Path} is not a directory");
        }
        EnsureListable();
    }

    /// <summary>What to do about a file of an initialised directory that is gone: `init` will not write it again.</summary>
    private string Missing(string file)
    {
        var serving = file == ServingCert || file == ServingKey;
        return $"{file} is missing: restore it from a backup of {Path}" + (serving
            ? $", or issue a new serving certificate from the CA with `nodefleet-coordinator reissue-serving-cert --data-dir {Path}`"
            : file == CaKey
                ? " (without it no certificate can be issued, and it cannot be made again: a new CA means every node joins again)"
                : " (`init` does not overwrite an initialised data directory)");
    }

    internal static string PermissionDenied => $"permission denied (the coordinator runs as user '{Environment.UserName}')";

    /// <summary>Looks inside the directory, so that a directory this user may not read is not taken for an empty one.</summary>
    private void EnsureListable()
    {
        try { using var e = Directory.EnumerateFileSystemEntries(Path).GetEnumerator(); e.MoveNext(); }
        catch (UnauthorizedAccessException) { throw new StartupException($"cannot read data directory {Path}: {PermissionDenied}"); }
        catch (IOException e) { throw new StartupException($"cannot read data directory {Path}: {e.Message}"); }
    }

    /// <summary>
    /// What is at <paramref name="path"/>: unlike File.Exists and Directory.Exists, a path that cannot be looked at
    /// is not reported missing but refused.
    /// </summary>
    public static Entry Kind(string path)
    {
        try
        {
            return (File.GetAttributes(path) & FileAttributes.Directory) != 0 ? Entry.Directory : Entry.File;
        }
        catch (FileNotFoundException) { return Entry.Missing; }
        catch (DirectoryNotFoundException) { return Entry.Missing; } // also a parent that is a file (ENOTDIR)
        catch (UnauthorizedAccessException) { throw new StartupException($"cannot look at {path}: {PermissionDenied}"); }
        catch (IOException e) { throw new StartupException($"cannot look at {path}: {e.Message}"); }
    }

    /// <summary>
    /// Takes the directory for this process (an exclusive lock held until the returned handle is disposed), so two
    /// coordinators never write the same database.
    /// </summary>
    public IDisposable Lock()
    {
        try
        {
            // FileShare.None becomes an exclusive flock on Linux, released by the kernel if the process dies. Like every
            // file of the state, readable by the coordinator's user only.
            var held = new FileStream(LockFile, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None,
                UnixCreateMode = NodeFleet.IO.AtomicFile.Private,
            });
            if (File.GetUnixFileMode(LockFile) != NodeFleet.IO.AtomicFile.Private) File.SetUnixFileMode(LockFile, NodeFleet.IO.AtomicFile.Private);
            return held;
        }
        catch (UnauthorizedAccessException)
        {
            throw new StartupException($"cannot open {LockFile}: {PermissionDenied}");
        }
        catch (IOException e)
        {
            throw new StartupException($"data directory {Path} is in use by another coordinator ({LockFile} is locked): {e.Message}");
        }
    }

    /// <summary>The CA certificate and its key, refused when either does not parse or the two do not belong together.</summary>
    public (X509Certificate2 Cert, ECDsa Key) LoadCa()
    {
        var cert = ReadCertificate(CaCert);
        var key = ReadPrivateKey(CaKey);
        if (!SameKey(cert, key))
        {
            cert.Dispose();
            key.Dispose();
            // Certificates signed with another key would carry this CA's name and be rejected by every agent.
            throw new StartupException($"{CaKey} does not match {CaCert}");
        }
        return (cert, key);
    }

    /// <summary>The serving certificate with its key; when <paramref name="ca"/> is given, it must be what issued it.</summary>
    public X509Certificate2 LoadServing(X509Certificate2? ca = null)
    {
        using var cert = ReadCertificate(ServingCert);
        using var key = ReadPrivateKey(ServingKey);
        if (!SameKey(cert, key)) throw new StartupException($"{ServingKey} does not match {ServingCert}");
        if (ca is not null && !IssuedBy(cert, ca))
            throw new StartupException($"{ServingCert} is not issued by {CaCert}: agents and the CLI trust only that CA " +
                                       $"(issue a new one with `nodefleet-coordinator reissue-serving-cert --data-dir {Path}`)");
        return cert.CopyWithPrivateKey(key);
    }

    private static string ReadText(string path) =>
        NodeFleet.IO.TextFiles.TryRead(path, out var text, out var reason) ? text : throw new StartupException(reason switch
        {
            NodeFleet.IO.TextFiles.NoSuchFile => $"{path} is missing",
            NodeFleet.IO.TextFiles.PermissionDenied => $"cannot read {path}: {PermissionDenied}",
            _ => $"cannot read {path}: {reason}",
        });

    public static X509Certificate2 ReadCertificate(string path)
    {
        var text = ReadText(path);
        try { return X509Certificate2.CreateFromPem(text); }
        catch (CryptographicException) { throw new StartupException($"{path}: not a PEM certificate"); }
    }

    public static ECDsa ReadPrivateKey(string path)
    {
        var text = ReadText(path);
        var key = ECDsa.Create();
        try
        {
            if (text.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
                throw new StartupException($"{path}: the private key is encrypted; the coordinator needs it unencrypted, as `init` writes it");
            key.ImportFromPem(text);
            // A public key imports too, and would fail only at the first signature.
            key.ExportParameters(includePrivateParameters: true);
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new StartupException($"{path}: not a PEM private key");
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    private static bool SameKey(X509Certificate2 cert, ECDsa key) =>
        cert.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo());

    /// <summary>Whether <paramref name="ca"/> signed <paramref name="cert"/>, whatever their validity dates.</summary>
    private static bool IssuedBy(X509Certificate2 cert, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(cert) && chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(ca.RawData);
    }
}
