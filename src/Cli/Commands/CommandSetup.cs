using System.CommandLine;
using System.CommandLine.Help;
using NodeFleet.Config;

namespace NodeFleet.Cli.Commands;

/// <summary>Shared wiring for commands: the -o option, help for command groups, and errors as "error: message".</summary>
public static class CommandSetup
{
    public static Option<string> OutputOption(params string[] formats)
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = $"Output format: {string.Join(", ", formats)}",
            HelpName = "FORMAT",
        };
        // A one-line message in the "error: ..." style rather than the library's multi-line list.
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string>();
            if (value is not null && !formats.Contains(value))
                result.AddError($"unknown output format '{value}': use {string.Join(", ", formats)}");
        });
        return option;
    }

    /// <summary>A duration flag's value ("24h", "1h30m"); a bad one is an error naming the flag.</summary>
    public static TimeSpan ParseDuration(string text, string flag)
    {
        try
        {
            return Durations.Parse(text);
        }
        catch (FormatException e)
        {
            throw new CliException($"{flag}: {e.Message}");
        }
    }

    /// <summary>A group such as `token` run on its own prints its help, like kubectl, instead of an error.</summary>
    public static void ShowHelpWhenRun(this Command group) => group.SetAction(p => new HelpAction().Invoke(p));

    /// <summary>
    /// Runs <paramref name="action"/>, printing expected failures (bad input, config, coordinator errors) as one
    /// "error: ..." line on stderr with exit code 1. Anything else is a bug and keeps its stack trace.
    /// </summary>
    public static void SetGuardedAction(this Command command, CliEnvironment env,
        Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction(async (p, ct) =>
        {
            try
            {
                return await action(p, ct);
            }
            catch (Exception e) when (ErrorMessage(e, ct) is { } message)
            {
                await env.Error.WriteLineAsync($"error: {message}");
                return 1;
            }
        });

    public static string? ErrorMessage(Exception e, CancellationToken ct) => e switch
    {
        CliException or ConfigException or FormatException => e.Message,
        IOException or UnauthorizedAccessException => e.Message,
        OperationCanceledException when ct.IsCancellationRequested => "cancelled",
        _ => null,
    };
}
