using System.Globalization;
using System.Runtime.InteropServices;

namespace NodeFleet.FleetSim;

/// <summary>What the figures were measured on, read from /proc.</summary>
public sealed record Machine(int Cpus, string CpuModel, bool Virtualized, long MemoryMiB, string Kernel, string Os, string Dotnet,
    long FileLimit, string PortRange)
{
    public static Machine Describe()
    {
        var cpuinfo = Read("/proc/cpuinfo");
        var memKb = Field(Read("/proc/meminfo"), "MemTotal")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        var os = Read("/etc/os-release").Split('\n')
            .FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? "unknown";
        return new Machine(
            Environment.ProcessorCount,
            Field(cpuinfo, "model name") ?? "unknown",
            (Field(cpuinfo, "flags") ?? "").Split(' ').Contains("hypervisor"),
            memKb is null ? 0 : long.Parse(memKb, CultureInfo.InvariantCulture) / 1024,
            Read("/proc/sys/kernel/osrelease").Trim(),
            os,
            RuntimeInformation.FrameworkDescription,
            Limits.OpenFiles(),
            Read("/proc/sys/net/ipv4/ip_local_port_range").Trim().Replace('\t', '-'));
    }

    public string OneLine =>
        $"{Cpus} × {CpuModel}{(Virtualized ? " (VM)" : "")}, {MemoryMiB / 1024.0:0.0} GiB RAM, kernel {Kernel}, {Os}, {Dotnet}, " +
        $"ulimit -n {FileLimit}, ephemeral ports {PortRange}";

    private static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    private static string? Field(string text, string key) =>
        text.Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim() == key).Select(p => p[1].Trim()).FirstOrDefault();
}

/// <summary>This process's open-file limit, raised to the hard limit (10,000 TLS connections need more than the usual 1,024).</summary>
public static partial class Limits
{
    private const int RlimitNofile = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Cur, Max;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out Rlimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in Rlimit limit);

    public static long OpenFiles() => getrlimit(RlimitNofile, out var l) == 0 ? (long)Math.Min(l.Cur, long.MaxValue) : -1;

    /// <summary>Raises the soft limit to the hard one; returns the limit now in force.</summary>
    public static long RaiseOpenFiles()
    {
        if (getrlimit(RlimitNofile, out var l) != 0) return -1;
        if (l.Cur < l.Max)
        {
            var raised = new Rlimit { Cur = l.Max, Max = l.Max };
            if (setrlimit(RlimitNofile, raised) != 0) return (long)l.Cur;
        }
        return OpenFiles();
    }

    public static int OpenFileCount() => Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : -1;
}

/// <summary>Memory and CPU time of a process from /proc.</summary>
public static partial class ProcStats
{
    [LibraryImport("libc")]
    private static partial long sysconf(int name);

    private static readonly long TicksPerSecond = Math.Max(1, sysconf(2 /* _SC_CLK_TCK */));

    /// <summary>VmRSS (resident set) in MiB, from /proc/PID/status.</summary>
    public static double RssMiB(int pid) => StatusKb(pid, "VmRSS") / 1024.0;

    /// <summary>VmHWM (peak resident set) in MiB.</summary>
    public static double PeakRssMiB(int pid) => StatusKb(pid, "VmHWM") / 1024.0;

    public static int Threads(int pid) => (int)StatusKb(pid, "Threads");

    private static long StatusKb(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (!line.StartsWith(key + ":", StringComparison.Ordinal)) continue;
            var v = line[(key.Length + 1)..].Trim().Split(' ')[0];
            return long.Parse(v, CultureInfo.InvariantCulture);
        }
        return 0;
    }

    /// <summary>utime + stime of the process (all threads) so far, from /proc/PID/stat (10 ms resolution).</summary>
    public static TimeSpan Cpu(int pid) => Seconds(Ticks(StatFields(pid), 11, 12));

    /// <summary>The fields of /proc/PID/stat after the command name (state first: field 3 of proc(5) is index 0 here).</summary>
    private static string[] StatFields(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }

    private static long Ticks(string[] fields, params int[] at) => at.Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));

    private static TimeSpan Seconds(long ticks) => TimeSpan.FromSeconds((double)ticks / TicksPerSecond);

    /// <summary>
    /// CPU time of a process and of its children (the PostgreSQL postmaster and its backends): its own, its children's
    /// that have ended (cutime + cstime), and the live children's.
    /// </summary>
    public static TimeSpan TreeCpu(int pid)
    {
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var p)) continue;
            string[] fields;
            try { fields = StatFields(p); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
            if (p != pid && parent != pid) continue;
            ticks += p == pid ? Ticks(fields, 11, 12, 13, 14) : Ticks(fields, 11, 12);
        }
        return Seconds(ticks);
    }

    /// <summary>The 1-minute load average, to tell a quiet machine from a busy one.</summary>
    public static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
}
