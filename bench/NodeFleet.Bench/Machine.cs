using System.Globalization;
using System.Runtime.InteropServices;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.Bench;

/// <summary>What the figures were measured on, read from /proc and the tools themselves.</summary>
public sealed record Machine(
    int Cpus, string CpuModel, bool Virtualized, long MemoryMiB, string Kernel, string Os, string Dotnet, string Containerd)
{
    public static async Task<Machine> DescribeAsync()
    {
        var cpuinfo = ReadOrEmpty("/proc/cpuinfo");
        var model = Field(cpuinfo, "model name") ?? "unknown";
        var flags = Field(cpuinfo, "flags") ?? "";
        var memKb = Field(ReadOrEmpty("/proc/meminfo"), "MemTotal")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        var os = ReadOrEmpty("/etc/os-release").Split('\n')
            .FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? "unknown";
        var containerd = "unknown";
        if (File.Exists("/usr/bin/containerd"))
        {
            var r = await Proc.RunAsync("/usr/bin/containerd", ["--version"]);
            containerd = r.StdOut.Trim().Split(' ').ElementAtOrDefault(2) ?? r.StdOut.Trim();
        }
        return new Machine(
            Environment.ProcessorCount,
            model,
            flags.Split(' ').Contains("hypervisor"),
            memKb is null ? 0 : long.Parse(memKb, CultureInfo.InvariantCulture) / 1024,
            ReadOrEmpty("/proc/sys/kernel/osrelease").Trim(),
            os,
            RuntimeInformation.FrameworkDescription,
            containerd);
    }

    public IEnumerable<string> Lines()
    {
        yield return $"CPU:        {Cpus} × {CpuModel}{(Virtualized ? " (virtual machine)" : "")}";
        yield return $"memory:     {MemoryMiB / 1024.0:0.0} GiB";
        yield return $"kernel:     {Kernel}";
        yield return $"OS:         {Os}";
        yield return $".NET:       {Dotnet}";
        yield return $"containerd: {Containerd} (ctr from the same package)";
    }

    private static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    private static string? Field(string text, string key) =>
        text.Split('\n')
            .Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2 && p[0].Trim() == key)
            .Select(p => p[1].Trim())
            .FirstOrDefault();
}
