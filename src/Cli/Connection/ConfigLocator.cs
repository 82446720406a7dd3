namespace NodeFleet.Cli.Connection;

/// <summary>Finds the CLI config: --config, then $NODEFLEET_CONFIG, then ~/.nodefleet/config, then the coordinator's admin.conf.</summary>
public static class ConfigLocator
{
    public const string EnvironmentVariable = "NODEFLEET_CONFIG";
    public const string SystemPath = "/var/lib/nodefleet/admin.conf";

    public static string UserPath(string home) => Path.Combine(home, ".nodefleet", "config");

    /// <summary>
    /// An explicit path (flag or environment) is returned as is, even when missing, so that loading it names the
    /// file the operator asked for instead of silently falling back to another cluster's credentials.
    /// </summary>
    public static string Locate(string? flag, CliEnvironment env) =>
        TryLocate(flag, env)
        ?? throw new CliException(
            $"no CLI config found: tried {string.Join(", ", Candidates(env.HomeDirectory))}; pass --config or set {EnvironmentVariable}");

    /// <summary>Like <see cref="Locate"/>, but null when nothing was asked for and no default file exists.</summary>
    public static string? TryLocate(string? flag, CliEnvironment env)
    {
        if (!string.IsNullOrWhiteSpace(flag)) return flag;
        if (env.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } fromEnv) return fromEnv;
        return Candidates(env.HomeDirectory).FirstOrDefault(env.FileExists);
    }

    private static List<string> Candidates(string? home) =>
        string.IsNullOrEmpty(home) ? [SystemPath] : [UserPath(home), SystemPath];
}
