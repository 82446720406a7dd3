using System.Text;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Everything a step may use. All host changes go through it: a file write first journals a backup of what it
/// replaces (and, on the first write ever of that path, the original for reset), then writes atomically.
/// </summary>
public sealed class StepContext(
    NodePlan plan,
    HostFiles files,
    IServiceManager services,
    IImageService? images,
    CommandRunner commands,
    TimeProvider time,
    ILogger log)
{
    public NodePlan Plan { get; } = plan;
    public HostFiles Files { get; } = files;
    public IServiceManager Services { get; } = services;
    public IImageService? Images { get; } = images;
    public CommandRunner Commands { get; } = commands;
    public TimeProvider Time { get; } = time;
    public ILogger Log { get; } = log;

    /// <summary>Null in dry-run, where nothing may change.</summary>
    public RunScope? Run { get; init; }

    public IReadOnlyCollection<string> IgnorePreflightErrors { get; init; } = [];

    /// <summary>Units whose configuration changed in this run (in a dry run: would change).</summary>
    public required ISet<string> ChangedUnits { get; init; }

    /// <summary>Units already restarted by this run.</summary>
    public required ISet<string> RestartedUnits { get; init; }

    public bool DaemonReloadNeeded { get; set; }

    public bool DryRun => Run is null;

    private readonly StringBuilder _output = new();

    /// <summary>Output a step wants kept (its tail goes to the journal and to on-call).</summary>
    public void Output(string line)
    {
        _output.AppendLine(line);
        Log.LogDebug("{Line}", line);
    }

    public string OutputTail(int lines = 20)
    {
        var all = _output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('\n', all.TakeLast(lines));
    }

    /// <summary>Sends a progress line to whoever watches the run (e.g. "pulled 3/7 images"); not journaled.</summary>
    public Action<string> OnProgress { get; init; } = _ => { };

    public void Progress(string message) => OnProgress(message);

    public RunScope RequireRun() => Run ?? throw new InvalidOperationException("a change was attempted during a dry run");

    /// <summary>Journaled, atomic, only-on-change write of a host file; true when it changed.</summary>
    public bool WriteFile(string hostPath, byte[] content, UnixFileMode mode)
    {
        if (Files.Read(hostPath) is { } current && current.AsSpan().SequenceEqual(content) && Files.Mode(hostPath) == mode)
            return false;
        RequireRun().RecordBackup(hostPath);
        return Files.WriteIfChanged(hostPath, content, mode);
    }

    /// <summary>Journaled atomic install of a file by rename, keeping the previous one for undo.</summary>
    public void InstallFile(string sourceFullPath, string hostPath, UnixFileMode mode)
    {
        RequireRun().RecordBackup(hostPath);
        Files.InstallFrom(sourceFullPath, hostPath, mode);
    }
}
