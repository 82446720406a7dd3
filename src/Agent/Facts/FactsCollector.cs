using NodeFleet.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Host;
using NodeFleet.Cri.V1;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Facts;

/// <summary>Gathers what the coordinator shows about a node: OS, kernel, container runtime, kubelet, cgroup driver.</summary>
public sealed class FactsCollector(HostRoot root, CommandRunner commands, ILogger<FactsCollector> log)
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
            Hostname = ReadFirstLine("/etc/hostname") ?? System.Net.Dns.GetHostName(),
            Os = OsPrettyName() ?? RuntimeInformation.OSDescription,
            // The kernel is the running one, whatever the root.
            Kernel = ReadProc("/proc/sys/kernel/osrelease") ?? "",
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
            var path = root.Path(socket);
            if (!File.Exists(path)) continue;
            facts.RuntimeKind = kind;
            facts.RuntimeEndpoint = $"unix://{socket}";
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                if (kind == "docker") await ProbeDockerAsync(path, facts, cts.Token);
                else await ProbeCriAsync(path, facts, cts.Token);
            }
            catch (Exception e) when (e is RpcException or HttpRequestException or OperationCanceledException or JsonException or IOException)
            {
                log.LogWarning("Container runtime {Kind} at {Socket} did not answer: {Error}", kind, path, e.Message);
            }
            break;
        }
        facts.KubeletVersion = await KubeletVersionAsync(ct) ?? "";
        return facts;
    }

    /// <summary>The cgroup driver a runtime uses, asked over its own API.</summary>
    public static async Task<string?> RuntimeCgroupDriverAsync(string kind, string socketPath, CancellationToken ct)
    {
        var facts = new NodeFacts();
        if (kind == "docker") await ProbeDockerAsync(socketPath, facts, ct);
        else await ProbeCriAsync(socketPath, facts, ct);
        return facts.CgroupDriver.Length > 0 ? facts.CgroupDriver : null;
    }

    private static async Task ProbeCriAsync(string socketPath, NodeFacts facts, CancellationToken ct)
    {
        using var channel = UnixSockets.GrpcChannel(socketPath);
        var client = new RuntimeService.RuntimeServiceClient(channel);
        var v = await client.VersionAsync(new VersionRequest { Version = "v1" }, cancellationToken: ct);
        facts.RuntimeVersion = v.RuntimeVersion;
        try
        {
            var rc = await client.RuntimeConfigAsync(new RuntimeConfigRequest(), cancellationToken: ct);
            facts.CgroupDriver = rc.Linux?.CgroupDriver == CgroupDriver.Cgroupfs ? "cgroupfs" : "systemd";
            return;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
            // Older runtimes (containerd < 1.7): read the driver from the verbose status config.
        }
        var status = await client.StatusAsync(new StatusRequest { Verbose = true }, cancellationToken: ct);
        if (status.Info.TryGetValue("config", out var config))
            facts.CgroupDriver = config.Contains("\"SystemdCgroup\":true", StringComparison.Ordinal) ? "systemd" : "cgroupfs";
    }

    private static async Task ProbeDockerAsync(string socketPath, NodeFacts facts, CancellationToken ct)
    {
        using var http = new HttpClient(UnixSockets.Handler(socketPath)) { BaseAddress = new Uri("http://docker") };
        using var version = JsonDocument.Parse(await http.GetStringAsync("/version", ct));
        facts.RuntimeVersion = version.RootElement.TryGetProperty("Version", out var v) ? v.GetString() ?? "" : "";
        using var info = JsonDocument.Parse(await http.GetStringAsync("/info", ct));
        facts.CgroupDriver = info.RootElement.TryGetProperty("CgroupDriver", out var d) ? d.GetString() ?? "" : "";
    }

    private async Task<string?> KubeletVersionAsync(CancellationToken ct)
    {
        const string kubelet = "/usr/bin/kubelet";
        if (!File.Exists(root.Path(kubelet))) return null;
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

    private string? OsPrettyName()
    {
        var path = root.Path("/etc/os-release");
        if (!File.Exists(path)) return null;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) return line["PRETTY_NAME=".Length..].Trim('"');
        }
        return null;
    }

    private string? ReadFirstLine(string hostPath)
    {
        var path = root.Path(hostPath);
        return File.Exists(path) ? File.ReadLines(path).FirstOrDefault()?.Trim() : null;
    }

    private static string? ReadProc(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;
}
