namespace NodeFleet.Cli;

/// <summary>What the CLI reads from and writes to outside its arguments, so tests can run it in-process.</summary>
public sealed record CliEnvironment(
    TextWriter Out,
    TextWriter Error,
    Func<string, string?> GetEnvironmentVariable,
    string? HomeDirectory,
    Func<string, bool> FileExists,
    TimeProvider Time)
{
    public static CliEnvironment System() => new(
        Console.Out,
        Console.Error,
        Environment.GetEnvironmentVariable,
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home
            ? home
            : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
        File.Exists,
        TimeProvider.System);

    public DateTimeOffset Now => Time.GetUtcNow();
}
