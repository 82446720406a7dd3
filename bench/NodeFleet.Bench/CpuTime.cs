using System.Globalization;
using System.Runtime.InteropServices;

namespace NodeFleet.Bench;

/// <summary>
/// CPU time (user + system), which contention from other work on the machine inflates much less than wall-clock time:
/// of this process's finished children (getrusage RUSAGE_CHILDREN: the agent or the ctr processes of a run, once
/// waited for) and of a running process (/proc/PID/stat: containerd, all its threads).
/// </summary>
public static partial class CpuTime
{
    private const int RusageChildren = -1;
    private const int ScClkTck = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct Rusage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        // maxrss … nivcsw: 14 longs, not used.
        public long F0, F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12, F13;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrusage(int who, out Rusage usage);

    [LibraryImport("libc")]
    private static partial long sysconf(int name);

    private static readonly long TicksPerSecond = Math.Max(1, sysconf(ScClkTck));

    /// <summary>Total CPU time of all children of this process that have exited and been waited for.</summary>
    public static TimeSpan Children()
    {
        if (getrusage(RusageChildren, out var u) != 0)
            throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        return TimeSpan.FromMicroseconds(u.UtimeSec * 1_000_000 + u.UtimeUsec + u.StimeSec * 1_000_000 + u.StimeUsec);
    }

    /// <summary>CPU time of a running process so far (utime + stime, clock-tick resolution: 10 ms at 100 Hz).</summary>
    public static TimeSpan Of(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // "PID (comm) S ppid …": fields after the command name; utime and stime are fields 14 and 15 of the line.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((double)ticks / TicksPerSecond);
    }
}
