using System.Security.Cryptography;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A scratch directory standing for a node's filesystem (the agent's --root), plus two stand-ins outside it: the
/// kernel state preflight reads (--kernel-root; the agent reads the running kernel's /proc otherwise, whatever the
/// root), so a test does not depend on this machine's sysctls, and a recording systemctl, since no systemd runs as
/// PID 1 on this machine.
/// </summary>
public sealed class NodeRoot : IDisposable
{
    private readonly TempDir _dir = new("nf-node");

    /// <param name="allowLocalArtifacts">
    /// Whether the node's config allows artifact downloads from loopback (allowLocalArtifactAddresses): tests serve
    /// artifacts from HTTP servers on 127.0.0.1, which a default agent refuses. The config file then exists before
    /// join, holding that setting only; join adds the coordinator and node name to it.
    /// </param>
    public NodeRoot(bool allowLocalArtifacts = true)
    {
        Root = _dir.Combine("root");
        if (allowLocalArtifacts) Write("/etc/nodefleet/agent.yaml", "allowLocalArtifactAddresses: true\n");
        KernelRoot = _dir.Combine("kernel");
        WriteKernel("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
        WriteKernel("/proc/sys/net/ipv4/ip_forward", "1\n");
        WriteKernel("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
        WriteKernel("/proc/modules", "overlay 151552 0 - Live 0x0\nbr_netfilter 32768 0 - Live 0x0\n");
        // The node's facts name the running kernel: the stand-in reports this machine's.
        WriteKernel("/proc/sys/kernel/osrelease", File.ReadAllText("/proc/sys/kernel/osrelease"));
        Systemctl = _dir.Combine("systemctl");
        SystemctlLog = _dir.Combine("systemctl.log");
        // Records each call; `restart UNIT` fails while a file fail-restart-UNIT exists next to it, `daemon-reload`
        // while fail-daemon-reload does (FailDaemonReload).
        File.WriteAllText(Systemctl, $$"""
            #!/bin/sh
            # Recording systemctl (test stand-in for systemd).
            echo "$*" >> '{{SystemctlLog}}'
            if [ "$1" = "restart" ] && [ -e '{{_dir.Path}}/fail-restart-'"$2" ]; then echo "Job for $2.service failed." >&2; exit 1; fi
            if [ "$1" = "daemon-reload" ] && [ -e '{{_dir.Path}}/fail-daemon-reload' ]; then echo "Failed to connect to bus: Host is down" >&2; exit 1; fi
            if [ "$1" = "is-active" ]; then echo active; fi
            exit 0
            """.Replace("\r", ""));
        File.SetUnixFileMode(Systemctl, (UnixFileMode)0b111_101_101);
    }

    public string Root { get; }
    public string Systemctl { get; }

    /// <summary>The kernel state the agent reads (--kernel-root): /proc and /sys stand-ins, outside the root.</summary>
    public string KernelRoot { get; }

    /// <summary>The options every agent command of this node takes: its root, its kernel stand-in, its systemctl.</summary>
    public IReadOnlyList<string> AgentOptions => ["--root", Root, "--kernel-root", KernelRoot, "--systemctl", Systemctl];

    /// <summary>Writes a kernel state file (/proc/…) of the stand-in kernel.</summary>
    public void WriteKernel(string kernelPath, string content)
    {
        var p = Path.Combine(KernelRoot, kernelPath.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
    }

    /// <summary>Makes `systemctl daemon-reload` fail (true) or succeed again (false).</summary>
    public void FailDaemonReload(bool fail)
    {
        var marker = Path.Combine(_dir.Path, "fail-daemon-reload");
        if (fail) File.WriteAllText(marker, "");
        else File.Delete(marker);
    }
    public string SystemctlLog { get; }
    public string Scratch => _dir.Path;

    public string HostPath(string hostPath) => Path.Combine(Root, hostPath.TrimStart('/'));

    public void Write(string hostPath, string content)
    {
        var p = HostPath(hostPath);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
    }

    public string? Read(string hostPath) => File.Exists(HostPath(hostPath)) ? File.ReadAllText(HostPath(hostPath)) : null;

    public IReadOnlyList<string> SystemctlCalls() =>
        File.Exists(SystemctlLog) ? File.ReadAllLines(SystemctlLog) : [];

    public void FailRestartOf(string unit) => File.WriteAllText(_dir.Combine("fail-restart-" + unit), "");

    public string WritePlan(string yaml, string name = "plan.yaml")
    {
        var p = _dir.Combine(name);
        File.WriteAllText(p, yaml);
        return p;
    }

    public Task<ProcResult> AgentAsync(IEnumerable<string> args, IDictionary<string, string>? env = null) =>
        Proc.RunAsync(Binaries.Agent, [.. AgentOptions, .. args], env, TimeSpan.FromSeconds(120));

    /// <summary>Every file under the root with its hash and mode; the agent's own state directory optional.</summary>
    public SortedDictionary<string, string> Snapshot(bool includeAgentState = false)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!Directory.Exists(Root)) return result;
        foreach (var f in Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories))
        {
            var rel = "/" + Path.GetRelativePath(Root, f);
            if (!includeAgentState && rel.StartsWith("/var/lib/nodefleet-agent/", StringComparison.Ordinal)) continue;
            var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)));
            result[rel] = $"{hash} {Convert.ToString((int)File.GetUnixFileMode(f), 8)}";
        }
        return result;
    }

    /// <summary>A copy of this root's files in another NodeRoot (whose kernel stand-in is the same).</summary>
    public void CopyFilesTo(NodeRoot other)
    {
        foreach (var f in Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(other.Root, Path.GetRelativePath(Root, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target, overwrite: true);
            File.SetUnixFileMode(target, File.GetUnixFileMode(f));
        }
    }

    public void Dispose() => _dir.Dispose();
}
