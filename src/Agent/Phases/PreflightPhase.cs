using System.Net;
using System.Net.Sockets;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Execution;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Phases;

/// <summary>One preflight finding; errors stop the plan unless ignored (--ignore-preflight-errors=ID,…|all).</summary>
public sealed record PreflightFinding(string Id, bool IsError, string Message);

/// <summary>
/// `preflight`: read-only checks, as kubeadm's: swap, ports, disk, sysctls, kernel modules, the runtime socket and
/// the cgroup driver of runtime, plan and kubelet. Configuration files (the kubelet's config, the agent's) and the
/// disk are the node's, under the root; kernel state (/proc, /sys) and the network are the running host's, whatever
/// the root: a root moves files, not the kernel. Every finding names the path it read.
/// </summary>
public sealed class PreflightStep(INetwork network) : IStep
{
    public static readonly int[] Ports = [10250, 10256];
    public const long MinFreeBytes = 2L * 1024 * 1024 * 1024;

    public string Id => "checks";

    public async Task<CheckResult> CheckAsync(StepContext ctx, CancellationToken ct)
    {
        var findings = await RunChecksAsync(ctx, network, ct);
        foreach (var f in findings) ctx.Output($"[{(f.IsError ? "ERROR" : "WARNING")} {f.Id}]: {f.Message}");
        var ignoreAll = ctx.IgnorePreflightErrors.Contains("all", StringComparer.OrdinalIgnoreCase);
        var errors = findings.Where(f => f.IsError && !ignoreAll && !ctx.IgnorePreflightErrors.Contains(f.Id, StringComparer.OrdinalIgnoreCase)).ToList();
        if (errors.Count > 0)
            return new CheckResult.Blocked("preflight found errors:\n" + string.Join('\n', errors.Select(e => $"\t[ERROR {e.Id}]: {e.Message}"))
                + "\nignore with --ignore-preflight-errors=" + string.Join(',', errors.Select(e => e.Id)));
        var warnings = findings.Where(f => !f.IsError || ignoreAll || ctx.IgnorePreflightErrors.Contains(f.Id, StringComparer.OrdinalIgnoreCase)).ToList();
        return new CheckResult.Satisfied(warnings.Count == 0 ? "all checks passed"
            : "passed with warnings: " + string.Join("; ", warnings.Select(w => $"[{w.Id}] {w.Message}")));
    }

    // Preflight changes nothing: Check is everything.
    public Task ApplyAsync(StepContext ctx, CancellationToken ct) => Task.CompletedTask;

    public static async Task<IReadOnlyList<PreflightFinding>> RunChecksAsync(StepContext ctx, INetwork network, CancellationToken ct)
    {
        var findings = new List<PreflightFinding>();
        var plan = ctx.Plan.Spec;
        var kernel = ctx.Files.Root.Kernel;

        var swaps = kernel.ReadText("/proc/swaps");
        if (swaps is null) findings.Add(new("Swap", false, $"cannot read {kernel.PathOf("/proc/swaps")}"));
        else if (swaps.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > 1)
            findings.Add(new("Swap", true, $"swap is on ({kernel.PathOf("/proc/swaps")} lists a device); the kubelet needs it off (swapoff -a) unless configured for swap"));

        foreach (var port in Ports)
        {
            if (!network.IsTcpPortFree(port)) findings.Add(new($"Port-{port}", true, $"port {port} is in use on this host"));
        }

        if (ctx.Files.FreeBytes("/var/lib") is { } free && free < MinFreeBytes)
            findings.Add(new("DiskSpace", true, $"{ctx.Files.Root.Path("/var/lib")} has {free / (1024 * 1024)} MiB free; at least {MinFreeBytes / (1024 * 1024)} MiB are needed"));

        foreach (var (path, id) in new[]
                 {
                     ("/proc/sys/net/ipv4/ip_forward", "FileContent--proc-sys-net-ipv4-ip_forward"),
                     ("/proc/sys/net/bridge/bridge-nf-call-iptables", "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables"),
                 })
        {
            var v = kernel.ReadText(path);
            if (v is null) findings.Add(new(id, true, $"{kernel.PathOf(path)} does not exist (is the module loaded?)"));
            else if (v.Trim() != "1") findings.Add(new(id, true, $"{kernel.PathOf(path)} contents are not set to 1"));
        }

        var modules = kernel.ReadText("/proc/modules");
        foreach (var module in new[] { "overlay", "br_netfilter" })
        {
            var loaded = kernel.Exists($"/sys/module/{module}/initstate")
                || (modules is not null && modules.Split('\n').Any(l => l.StartsWith(module + " ", StringComparison.Ordinal)));
            if (!loaded)
                findings.Add(new($"KernelModule-{module}", false,
                    $"kernel module {module} does not seem to be loaded (not in {kernel.PathOf("/proc/modules")}, no {kernel.PathOf($"/sys/module/{module}")})"));
        }

        var images = ctx.Images;
        if (images is not null)
        {
            var problem = await images.ProbeAsync(ct);
            if (problem is not null) findings.Add(new("CRI", true, problem));
        }

        foreach (var (registry, endpoints) in plan.Registry?.Mirrors ?? [])
        {
            foreach (var endpoint in endpoints.Endpoints)
            {
                var problem = await MirrorProblemAsync(network, endpoint, ct);
                if (problem is not null)
                    findings.Add(new($"Mirror-{new Uri(endpoint).Authority}", true, $"mirror {endpoint} for {registry} does not answer /v2/: {problem}"));
            }
        }

        if (await CoordinatorProblemAsync(ctx, network, ct) is { } coordinator) findings.Add(new("Coordinator", false, coordinator));

        var runtimeDriver = await RuntimeCgroupDriverAsync(ctx, ct);
        if (runtimeDriver is not null && plan.Runtime.CgroupDriver.Length > 0 && runtimeDriver != plan.Runtime.CgroupDriver)
        {
            // A config phase of this plan sets the runtime's driver: a mismatch now is what it will fix.
            findings.Add(new("CgroupDriver", false,
                $"the runtime uses the {runtimeDriver} cgroup driver and the plan sets {plan.Runtime.CgroupDriver}; the plan will reconfigure it"));
        }
        var kubeletDriver = KubeletCgroupDriver(ctx);
        if (kubeletDriver is not null && plan.Runtime.CgroupDriver.Length > 0 && kubeletDriver != plan.Runtime.CgroupDriver)
            findings.Add(new("CgroupDriver", true,
                $"the kubelet config ({ctx.Files.Root.Path(KubeletConfig)}) has cgroupDriver {kubeletDriver} but the plan sets {plan.Runtime.CgroupDriver} for the runtime: they must match"));
        return findings;
    }

    private const string KubeletConfig = "/var/lib/kubelet/config.yaml";

    /// <summary>A registry answers GET /v2/ with 200, or 401 when it wants credentials; anything else is a problem.</summary>
    private static async Task<string?> MirrorProblemAsync(INetwork network, string endpoint, CancellationToken ct)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(10));
            using var r = await network.GetAsync(endpoint.TrimEnd('/') + "/v2/", cts.Token);
            return r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized ? null : $"HTTP {(int)r.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Whether the coordinator this node joined answers on its port. A warning only: a plan applied locally can run
    /// without it, and its reports wait in the outbox.
    /// </summary>
    private static async Task<string?> CoordinatorProblemAsync(StepContext ctx, INetwork network, CancellationToken ct)
    {
        NodeFleet.Agent.Join.AgentConfig? config;
        try { config = NodeFleet.Agent.Join.AgentConfig.Load(ctx.Files.Root); }
        catch (NodeFleet.Agent.Join.AgentException e) { return e.Message; }
        if (config is null) return null;
        try
        {
            var uri = NodeFleet.Net.GrpcChannels.ToUri(config.Coordinator);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(5));
            await network.ConnectTcpAsync(uri.IdnHost.Trim('[', ']'), uri.Port, cts.Token);
            return null;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or FormatException)
        {
            return $"coordinator {config.Coordinator} is not reachable: {e.Message}";
        }
    }

    private static async Task<string?> RuntimeCgroupDriverAsync(StepContext ctx, CancellationToken ct)
    {
        var runtime = ctx.Plan.Spec.Runtime;
        var socket = runtime.Endpoint.StartsWith("unix://", StringComparison.Ordinal) ? runtime.Endpoint[7..] : runtime.Endpoint;
        if (ctx.Images is null || socket.Length == 0 || !ctx.Files.Exists(socket)) return null;
        try
        {
            return (await ctx.Images.InfoAsync(ct)).CgroupDriver is { Length: > 0 } driver ? driver : null;
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or HttpRequestException or IOException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static string? KubeletCgroupDriver(StepContext ctx)
    {
        var config = ctx.Files.Read(KubeletConfig);
        if (config is null) return null;
        foreach (var line in System.Text.Encoding.UTF8.GetString(config).Split('\n'))
        {
            var t = line.Trim();
            if (t.StartsWith("cgroupDriver:", StringComparison.Ordinal)) return t["cgroupDriver:".Length..].Trim().Trim('"');
        }
        return null;
    }
}
