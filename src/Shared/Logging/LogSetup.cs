using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace NodeFleet.Logging;

/// <summary>Serilog set-up shared by the coordinator and the agent.</summary>
public static class LogSetup
{
    /// <summary>
    /// "text" (default): when stdout is journald's stream (<see cref="StdoutIsJournal"/>) each line starts with a
    /// syslog priority prefix such as &lt;6&gt; and carries no timestamp, since journald adds its own; anywhere else
    /// (a terminal, a pipe, a file), a timestamp and no prefix. "json": compact JSON (CLEF), one event a line.
    /// </summary>
    public static LoggerConfiguration Configure(LoggerConfiguration config, string? format, LogEventLevel minimum)
    {
        var journal = StdoutIsJournal(Environment.GetEnvironmentVariable("JOURNAL_STREAM"), StdoutTarget());
        config = config.MinimumLevel.Is(minimum)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.With<SyslogPriorityEnricher>();
        return (format ?? "text").ToLowerInvariant() switch
        {
            "json" => config.WriteTo.Console(new CompactJsonFormatter()),
            "text" when journal => config.WriteTo.Console(
                outputTemplate: "<{SyslogPriority}>{Level:u3} {Message:lj}{NewLine}{Exception}"),
            "text" => config.WriteTo.Console(
                outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}"),
            _ => throw new ArgumentException($"log format '{format}' is not one of: text, json"),
        };
    }

    /// <summary>
    /// Whether stdout is connected to journald. systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the journal stream
    /// it gives a service as stdout or stderr; the variable is inherited by whatever the service starts, so it
    /// counts only when stdout is that very stream: journald streams are sockets, and Linux names a socket
    /// descriptor "socket:[INODE]" (<paramref name="stdoutTarget"/>, the link /proc/self/fd/1).
    /// </summary>
    public static bool StdoutIsJournal(string? journalStream, string? stdoutTarget)
    {
        if (string.IsNullOrEmpty(journalStream) || string.IsNullOrEmpty(stdoutTarget)) return false;
        var colon = journalStream.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !ulong.TryParse(journalStream[(colon + 1)..], System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var inode)) return false;
        return stdoutTarget == $"socket:[{inode}]";
    }

    /// <summary>What this process's stdout is ("socket:[123]", "/dev/pts/0", "pipe:[456]"), or null when unknown.</summary>
    private static string? StdoutTarget()
    {
        try { return new FileInfo("/proc/self/fd/1").LinkTarget; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private sealed class SyslogPriorityEnricher : ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, ILogEventPropertyFactory factory)
        {
            var p = logEvent.Level switch
            {
                LogEventLevel.Fatal => 2,
                LogEventLevel.Error => 3,
                LogEventLevel.Warning => 4,
                LogEventLevel.Information => 6,
                _ => 7,
            };
            logEvent.AddPropertyIfAbsent(factory.CreateProperty("SyslogPriority", p));
        }
    }
}
