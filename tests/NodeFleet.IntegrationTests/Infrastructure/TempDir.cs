namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>A scratch directory removed when disposed.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "nf-it")
    {
        Path = Directory.CreateTempSubdirectory(prefix + "-").FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        // A killed dockerd leaves its data root bind-mounted; the directory cannot go while it is.
        try { Mounts.UnmountUnderAsync(Path).GetAwaiter().GetResult(); }
        catch (InvalidOperationException) { }
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
