using System.Diagnostics;

namespace NodeFleet.Agent.Host;

/// <summary>
/// The one way the agent runs a program: an argument array (never a shell), output and errors captured, a deadline
/// after which the process tree is killed. <see cref="CommandRunner"/> and <see cref="Systemctl"/> both run through it.
/// </summary>
public static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Output);

    /// <summary>Runs <paramref name="executable"/> (a full path) to its end.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">It cannot be started (missing, not executable).</exception>
    /// <exception cref="TimeoutException">It did not finish within <paramref name="timeout"/>; it was killed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled; it was killed.</exception>
    public static async Task<Result> RunAsync(string executable, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {executable}");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Neither a deadline nor a cancelled run leaves the program running behind the agent.
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException($"{executable} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:0}s");
        }
        return new Result(p.ExitCode, (await stdout) + (await stderr));
    }
}

/// <summary>Runs one of a few allow-listed host binaries (under the root) through <see cref="ProcessRunner"/>.</summary>
public sealed class CommandRunner(HostRoot root)
{
    /// <summary>The binaries the agent may run, by file name.</summary>
    public static readonly IReadOnlySet<string> Allowed = new HashSet<string>(StringComparer.Ordinal)
    {
        "kubelet", "kubeadm", "containerd", "crio", "dockerd", "systemctl",
    };

    /// <summary>Runs <paramref name="hostPath"/> (an absolute host path, mapped under the root).</summary>
    public async Task<ProcessRunner.Result> RunAsync(string hostPath, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct)
    {
        var name = Path.GetFileName(hostPath);
        if (!Allowed.Contains(name)) throw new InvalidOperationException($"binary {hostPath} is not on the agent's allow-list");
        return await ProcessRunner.RunAsync(root.Path(hostPath), args, timeout, ct);
    }
}
