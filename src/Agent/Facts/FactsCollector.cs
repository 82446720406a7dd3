using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Facts;

/// <summary>
/// Gathers what the coordinator shows about a node: OS, kernel, container runtime, kubelet, cgroup driver. Files are
/// read through the file port (under the root), the kernel's release from the running kernel, and the runtime is
/// asked through the same runtime port the steps use.
/// </summary>
public sealed class FactsCollector(HostFiles files, ImageServiceFactory runtimes, CommandRunner commands, ILogger<FactsCollector> log)
{
    /// <summary>Known runtime sockets, in the order kubeadm probes them.</summary>
    public static readonly IReadOnlyList<(string Kind, string Socket)> KnownRuntimes =
    [
        ("containerd", "/run/containerd/containerd.sock"),
        ("cri-o", "/var/run/crio/crio.sock"),
        ("docker", "/var/run/docker.sock"),
    ];

    public async Task<NodeFacts> CollectAsync(CancellationToken ct)
    {
        var facts = new NodeFacts
        {
            Hostname = Lines("/etc/hostname").FirstOrDefault()?.Trim() ?? System.Net.Dns.GetHostName(),
            Os = OsPrettyName() ?? RuntimeInformation.OSDescription,
            // The kernel is the running one, whatever the root.
            Kernel = files.Root.Kernel.ReadText("/proc/sys/kernel/osrelease")?.Trim() ?? "",
            Arch = RuntimeInformation.OSArchitecture switch
            {
                Architecture.X64 => "amd64",
                Architecture.Arm64 => "arm64",
                var a => a.ToString().ToLowerInvariant(),
            },
            AgentVersion = BuildInfo.Version,
        };
        foreach (var (kind, socket) in KnownRuntimes)
        {
            if (!files.Exists(socket)) continue;
            facts.RuntimeKind = kind;
            facts.RuntimeEndpoint = $"unix://{socket}";
            var runtime = runtimes.ForRuntime(kind, socket)!;
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                var info = await runtime.InfoAsync(cts.Token);
                facts.RuntimeVersion = info.Version;
                facts.CgroupDriver = info.CgroupDriver;
            }
            catch (Exception e) when (e is RpcException or HttpRequestException or OperationCanceledException or JsonException or IOException)
            {
                log.LogWarning("Container runtime {Kind} at {Socket} did not answer: {Error}", kind, files.Root.Path(socket), e.Message);
            }
            break;
        }
        facts.KubeletVersion = await KubeletVersionAsync(ct) ?? "";
        facts.KubeletHostnameOverride = KubeletHostnameOverride() ?? "";
        return facts;
    }

    /// <summary>The kubelet's --hostname-override, from the files that make its command line (under the root).</summary>
    private string? KubeletHostnameOverride()
    {
        // By file name, a later directory's file replacing an earlier one's, then in name order (as systemd applies them).
        var dropIns = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in KubeletFlags.DropInDirectories)
        {
            var full = files.Root.Path(dir);
            if (!Directory.Exists(full)) continue;
            foreach (var file in Directory.EnumerateFiles(full, "*.conf")) dropIns[Path.GetFileName(file)] = $"{dir}/{Path.GetFileName(file)}";
        }
        try
        {
            var args = KubeletFlags.Arguments(p => files.ReadSystemFile(p) is { } b ? Encoding.UTF8.GetString(b) : null, dropIns.Values);
            return KubeletFlags.Value(args, "hostname-override")?.Trim() is { Length: > 0 } name ? name : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Cannot read the kubelet's flags: {Error}", e.Message);
            return null;
        }
    }

    private async Task<string?> KubeletVersionAsync(CancellationToken ct)
    {
        const string kubelet = "/usr/bin/kubelet";
        if (!files.Exists(kubelet)) return null;
        try
        {
            var r = await commands.RunAsync(kubelet, ["--version"], TimeSpan.FromSeconds(10), ct);
            // "Kubernetes v1.31.2"
            return r.ExitCode == 0 ? r.Output.Trim().Split(' ').LastOrDefault() : null;
        }
        catch (Exception e) when (e is TimeoutException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            log.LogWarning("Cannot read the kubelet version: {Error}", e.Message);
            return null;
        }
    }

    private string? OsPrettyName() =>
        Lines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim().Trim('"');

    /// <summary>The lines of a system file under the root (a link followed within the root); none when it is absent.</summary>
    private IEnumerable<string> Lines(string hostPath) =>
        files.ReadSystemFile(hostPath) is { } bytes ? Encoding.UTF8.GetString(bytes).Split('\n') : [];
}
