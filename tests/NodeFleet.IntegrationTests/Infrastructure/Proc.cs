using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>The outcome of a finished command.</summary>
public sealed record ProcResult(int ExitCode, string StdOut, string StdErr)
{
    public string All => StdOut + StdErr;
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StdOut}\nstderr:\n{StdErr}";
}

/// <summary>Runs real processes: to completion, or in the background with their output captured.</summary>
public static partial class Proc
{
    public static async Task<ProcResult> RunAsync(string file, IEnumerable<string> args,
        IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        using var p = new Process { StartInfo = StartInfo(file, args, env) };
        p.Start();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return new ProcResult(p.ExitCode, await stdout, await stderr);
    }

    public static BackgroundProc Start(string file, IEnumerable<string> args, IDictionary<string, string>? env = null) =>
        new(file, args, env);

    internal static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, IDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Keep the machine's own settings out of the processes under test.
        psi.Environment.Remove("NODEFLEET_CONFIG");
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("NODEFLEET_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return psi;
    }

    /// <summary>
    /// A loopback port for a server under test, taken below the kernel's ephemeral range: a port the kernel hands
    /// out (bind to 0) may be given again, as the source port of any outgoing connection the parallel tests make,
    /// between this call and the server's bind. Ports here are handed out once per test process, each checked free.
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; attempt < PortSpan; attempt++)
        {
            var port = PortBase + (int)((uint)Interlocked.Increment(ref _nextPort) % PortSpan);
            try
            {
                using var l = new TcpListener(IPAddress.Loopback, port);
                l.Start();
                return port;
            }
            catch (SocketException) { }
        }
        throw new InvalidOperationException($"no free loopback port in {PortBase}-{PortBase + PortSpan - 1}");
    }

    private const int PortBase = 20000;
    private static readonly int PortSpan = EphemeralLow() - PortBase;
    // Two test processes at once (unit and integration) start far apart in the span.
    private static int _nextPort = Environment.ProcessId * 997 % 10000;

    private static int EphemeralLow()
    {
        try
        {
            var low = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0]);
            return low > PortBase + 2000 ? low : 32768;
        }
        catch (IOException) { return 32768; }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    public const int SIGKILL = 9, SIGCONT = 18, SIGSTOP = 19;

    public static void Signal(int pid, int signal)
    {
        if (kill(pid, signal) != 0) throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Polls until <paramref name="condition"/> holds or fails with <paramref name="what"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (await condition()) return;
            if (sw.Elapsed > timeout) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0}s waiting for {what}");
            await Task.Delay(200);
        }
    }
}

/// <summary>A process running in the background whose output is collected for assertions and diagnostics.</summary>
public sealed class BackgroundProc : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    internal BackgroundProc(string file, IEnumerable<string> args, IDictionary<string, string>? env)
    {
        _process = new Process { StartInfo = Proc.StartInfo(file, args, env), EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>Waits for a line; a process that exits first, or a timeout, fails with the output it printed.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(); // the last lines of output
                if (Output.Contains(text, StringComparison.Ordinal)) return;
                throw new InvalidOperationException(
                    $"{_process.StartInfo.FileName} exited ({_process.ExitCode}) before printing '{text}'; its output:\n{Output}");
            }
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0}s waiting for '{text}' in the output of {_process.StartInfo.FileName}; output so far:\n{Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// The process's own exit, polled: unlike <see cref="WaitForExitAsync"/> (which also waits for the end of its
    /// redirected output, held open while any other process keeps a copy of the pipe), only the process itself counts.
    /// </summary>
    public async Task<int> WaitForProcessExitAsync(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!_process.HasExited)
        {
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"{_process.StartInfo.FileName} (pid {_process.Id}) still running after {timeout}; its output:\n{Output}");
            await Task.Delay(100);
        }
        return _process.ExitCode;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>kill -9: no chance to flush or clean up.</summary>
    public async Task KillHardAsync()
    {
        if (_process.HasExited) return;
        Proc.Signal(_process.Id, Proc.SIGKILL);
        await _process.WaitForExitAsync();
    }

    public void Pause() => Proc.Signal(_process.Id, Proc.SIGSTOP);
    public void Resume() => Proc.Signal(_process.Id, Proc.SIGCONT);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Proc.Signal(_process.Id, Proc.SIGCONT);
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
