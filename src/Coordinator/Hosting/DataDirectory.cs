using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>The coordinator's data directory layout and its start-up checks.</summary>
public sealed class DataDirectory(string path)
{
    public const string DefaultPath = "/var/lib/nodefleet";

    public string Path { get; } = System.IO.Path.GetFullPath(path);
    public string PkiDir => System.IO.Path.Combine(Path, "pki");
    public string CaCert => System.IO.Path.Combine(PkiDir, "ca.crt");
    public string CaKey => System.IO.Path.Combine(PkiDir, "ca.key");
    public string ServingCert => System.IO.Path.Combine(PkiDir, "serving.crt");
    public string ServingKey => System.IO.Path.Combine(PkiDir, "serving.key");
    public string AdminConf => System.IO.Path.Combine(Path, "admin.conf");
    public string Database => System.IO.Path.Combine(Path, CoordinatorStore.FileName);

    public string LockFile => System.IO.Path.Combine(Path, "coordinator.lock");

    public bool IsInitialized => File.Exists(CaCert) || File.Exists(Database);

    /// <summary>Throws with a message an operator can act on when the directory cannot be used.</summary>
    public void EnsureUsable()
    {
        if (!Directory.Exists(Path))
            throw new StartupException($"data directory {Path} does not exist: run `nodefleet-coordinator init --data-dir {Path}` first");
        foreach (var f in new[] { CaCert, CaKey, ServingCert, ServingKey })
        {
            if (!File.Exists(f))
                throw new StartupException($"data directory {Path} is not initialised ({f} is missing): run `nodefleet-coordinator init --data-dir {Path}`");
            try { using var _ = File.OpenRead(f); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                throw new StartupException($"cannot read {f}: {e.Message}");
            }
        }
        var probe = System.IO.Path.Combine(Path, $".write-probe-{Environment.ProcessId}");
        try
        {
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new StartupException($"data directory {Path} is not writable: {e.Message}");
        }
        if (File.Exists(Database))
        {
            try { using var _ = new FileStream(Database, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                throw new StartupException($"database {Database} cannot be opened for writing: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Takes the directory for this process (an exclusive lock held until the returned handle is disposed), so two
    /// coordinators never write the same database.
    /// </summary>
    public IDisposable Lock()
    {
        try
        {
            // FileShare.None becomes an exclusive flock on Linux, released by the kernel if the process dies.
            return new FileStream(LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new StartupException($"data directory {Path} is in use by another coordinator ({LockFile} is locked): {e.Message}");
        }
    }

    public (X509Certificate2 Cert, ECDsa Key) LoadCa()
    {
        var cert = X509Certificate2.CreateFromPem(File.ReadAllText(CaCert));
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(CaKey));
        return (cert, key);
    }

    public X509Certificate2 LoadServing() =>
        X509Certificate2.CreateFromPemFile(ServingCert, ServingKey);
}
