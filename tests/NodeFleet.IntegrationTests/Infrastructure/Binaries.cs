namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>Locates the built NodeFleet executables, which the tests run as real processes.</summary>
public static class Binaries
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Debug or Release: the same configuration the tests were built with.</summary>
    public static string Configuration { get; } =
        new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    public static string Coordinator => Exe("Coordinator", "nodefleet-coordinator");
    public static string Agent => Exe("Agent", "nodefleet-agent");
    public static string Cli => Exe("Cli", "nodefleet");

    private static string Exe(string project, string name)
    {
        var path = Path.Combine(RepoRoot, "src", project, "bin", Configuration, "net10.0", name);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} is not built; run `dotnet build NodeFleet.sln -c {Configuration}`");
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "NodeFleet.sln"))) return d.FullName;
        }
        throw new InvalidOperationException("NodeFleet.sln not found above " + AppContext.BaseDirectory);
    }
}
