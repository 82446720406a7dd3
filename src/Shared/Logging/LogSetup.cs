using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace NodeFleet.Logging;

/// <summary>Serilog set-up shared by the coordinator and the agent.</summary>
public static class LogSetup
{
    /// <summary>
    /// "text" (default): when stdout is not a terminal (systemd/journald) each line starts with a syslog priority
    /// prefix such as &lt;6&gt; and carries no timestamp, since journald adds its own; on a terminal, a timestamp.
    /// "json": compact JSON (CLEF), one event a line.
    /// </summary>
    public static LoggerConfiguration Configure(LoggerConfiguration config, string? format, LogEventLevel minimum)
    {
        config = config.MinimumLevel.Is(minimum)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.With<SyslogPriorityEnricher>();
        return (format ?? "text").ToLowerInvariant() switch
        {
            "json" => config.WriteTo.Console(new CompactJsonFormatter()),
            "text" when Console.IsOutputRedirected => config.WriteTo.Console(
                outputTemplate: "<{SyslogPriority}>{Level:u3} {Message:lj}{NewLine}{Exception}"),
            "text" => config.WriteTo.Console(
                outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}"),
            _ => throw new ArgumentException($"log format '{format}' is not one of: text, json"),
        };
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
