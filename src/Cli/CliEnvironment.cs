using NodeFleet.Cli.Output;

namespace NodeFleet.Cli;

/// <summary>What the CLI reads from and writes to outside its arguments, so tests can run it in-process.</summary>
/// <remarks>
/// <see cref="Out"/> and <see cref="Error"/> are always behind a <see cref="TerminalWriter"/>, whatever writer they are
/// given: the one place every human-readable line passes, where control characters from nodes are escaped.
/// </remarks>
public sealed record CliEnvironment(
    TextWriter Out,
    TextWriter Error,
    Func<string, string?> GetEnvironmentVariable,
    string? HomeDirectory,
    Func<string, bool> FileExists,
    TimeProvider Time)
{
    private readonly TextWriter _out = TerminalWriter.Over(Out);
    private readonly TextWriter _error = TerminalWriter.Over(Error);

    /// <summary>Standard output, with control characters shown escaped (see <see cref="TerminalWriter"/>).</summary>
    public TextWriter Out
    {
        get => _out;
        init => _out = TerminalWriter.Over(value);
    }

    /// <summary>Standard error, with control characters shown escaped (see <see cref="TerminalWriter"/>).</summary>
    public TextWriter Error
    {
        get => _error;
        init => _error = TerminalWriter.Over(value);
    }

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
