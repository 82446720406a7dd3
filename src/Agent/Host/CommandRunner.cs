using System.Diagnostics;

namespace NodeFleet.Agent.Host;

/// <summary>Runs one of a few allow-listed host binaries with an argument array (never a shell) and a timeout.</summary>
public sealed class CommandRunner(HostRoot root)
{
    /// <summary>The binaries the agent may run, by file name.</summary>
    public static readonly IReadOnlySet<string> Allowed = new HashSet<string>(StringComparer.Ordinal)
    {
        "kubelet", "containerd", "crio", "dockerd", "systemctl",
    };

    public sealed record Result(int ExitCode, string Output);

    /// <summary>Runs <paramref name="hostPath"/> (an absolute host path, mapped under the root).</summary>
    public async Task<Result> RunAsync(string hostPath, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct)
    {
        var name = Path.GetFileName(hostPath);
        if (!Allowed.Contains(name)) throw new InvalidOperationException($"binary {hostPath} is not on the agent's allow-list");
        var psi = new ProcessStartInfo(root.Path(hostPath))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {hostPath}");
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
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{hostPath} did not finish within {timeout.TotalSeconds:0}s");
        }
        return new Result(p.ExitCode, (await stdout) + (await stderr));
    }
}
