using NodeFleet.IO;

namespace NodeFleet.Agent.Host;

/// <summary>The service manager port: systemd through systemctl, with argument arrays and never a shell.</summary>
public interface IServiceManager
{
    Task DaemonReloadAsync(CancellationToken ct);
    Task RestartAsync(string unit, CancellationToken ct);
    Task<bool> IsActiveAsync(string unit, CancellationToken ct);
}

/// <summary>
/// Calls systemctl. Its path is configurable (--systemctl) so tests can point at a recording script or at a
/// systemctl inside a booted systemd container; it is a real host binary, not taken under --root.
/// </summary>
public sealed class Systemctl(string binary) : IServiceManager
{
    public const string DefaultPath = "/usr/bin/systemctl";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public string Binary { get; } = binary;

    public Task DaemonReloadAsync(CancellationToken ct) => RunCheckedAsync(["daemon-reload"], ct);

    public Task RestartAsync(string unit, CancellationToken ct) => RunCheckedAsync(["restart", CheckUnit(unit)], ct);

    public async Task<bool> IsActiveAsync(string unit, CancellationToken ct)
    {
        var (code, output) = await RunAsync(["is-active", CheckUnit(unit)], ct);
        return code == 0 && output.Trim() == "active";
    }

    private static string CheckUnit(string unit) =>
        unit.Length > 0 && unit.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@')
            ? unit
            : throw new ArgumentException($"'{unit}' is not a unit name");

    private async Task RunCheckedAsync(string[] args, CancellationToken ct)
    {
        var (code, output) = await RunAsync(args, ct);
        if (code != 0)
            throw new ServiceManagerException($"systemctl {string.Join(' ', args)} exited {code}" +
                (Lines.OneLine(output) is { Length: > 0 } said ? $": {said}" : " without a message"));
    }

    private async Task<(int, string)> RunAsync(string[] args, CancellationToken ct)
    {
        try
        {
            var r = await ProcessRunner.RunAsync(Binary, args, Timeout, ct);
            return (r.ExitCode, r.Output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // Not there, not executable: the node's systemctl (or --systemctl) is the problem, not the step.
            throw new ServiceManagerException($"cannot run {Binary} ({string.Join(' ', args)}): {e.Message}");
        }
        catch (TimeoutException)
        {
            throw new ServiceManagerException($"systemctl {string.Join(' ', args)} did not finish within {Timeout.TotalSeconds:0}s");
        }
    }
}

/// <summary>A service manager call that failed; the message carries systemctl's output.</summary>
public sealed class ServiceManagerException(string message) : Exception(message);
