namespace NodeFleet.Plans;

/// <summary>
/// The kubelet flags a plan may set in spec.kubelet.extraArgs: an allow-list, so that a flag added to the kubelet
/// later is refused until it is looked at. A flag that makes the kubelet run pods or binaries the plan chooses, or
/// changes what it trusts (its credentials, certificates, API authentication) or where it keeps its state, is refused
/// with the reason; so is a flag the plan's Kubernetes version no longer has.
/// </summary>
/// <remarks>
/// From the kubelet's command-line reference (kubernetes.io/docs/reference/command-line-tools-reference/kubelet) and
/// the release notes. Most of these flags are deprecated in favour of the kubelet's config file but still accepted;
/// only the version that removed a flag makes a plan wrong.
/// </remarks>
public static class KubeletFlags
{
    /// <summary>A flag a plan may set; <paramref name="RemovedIn"/> is the first minor (1.x) without it, or null.</summary>
    public sealed record Allowed(string Name, int? RemovedIn = null, string? DeprecatedNote = null);

    /// <summary>The flags a plan may set, by name.</summary>
    public static readonly IReadOnlyDictionary<string, Allowed> AllowList = new List<Allowed>
    {
        // Identity and registration of the node (what the API server sees of it, not what it trusts).
        new("node-labels"), new("register-with-taints"), new("register-node"), new("node-ip"), new("hostname-override"),
        new("provider-id"), new("cloud-provider"),
        // Capacity, reservations and eviction.
        new("max-pods"), new("pods-per-core"), new("pod-max-pids"), new("kube-reserved"), new("system-reserved"),
        new("kube-reserved-cgroup"), new("system-reserved-cgroup"), new("enforce-node-allocatable"), new("reserved-cpus"),
        new("reserved-memory"), new("qos-reserved"), new("eviction-hard"), new("eviction-soft"), new("eviction-soft-grace-period"),
        new("eviction-minimum-reclaim"), new("eviction-max-pod-grace-period"), new("eviction-pressure-transition-period"),
        new("fail-swap-on"), new("protect-kernel-defaults"), new("allowed-unsafe-sysctls"), new("seccomp-default"),
        // Resource managers and cgroups.
        new("cgroup-root"), new("cgroups-per-qos"), new("kubelet-cgroups"), new("runtime-cgroups"), new("system-cgroups"),
        new("cpu-cfs-quota"), new("cpu-cfs-quota-period"), new("cpu-manager-policy"), new("cpu-manager-policy-options"),
        new("cpu-manager-reconcile-period"), new("memory-manager-policy"), new("topology-manager-policy"),
        new("topology-manager-policy-options"), new("topology-manager-scope"), new("feature-gates"),
        // Images, containers and logs.
        new("image-gc-high-threshold"), new("image-gc-low-threshold"), new("minimum-image-ttl-duration"),
        new("serialize-image-pulls"), new("registry-qps"), new("registry-burst"), new("runtime-request-timeout"),
        new("container-log-max-size"), new("container-log-max-files"), new("maximum-dead-containers"),
        new("maximum-dead-containers-per-container"), new("minimum-container-ttl-duration"),
        new("image-pull-progress-deadline", RemovedIn: 24), new("container-runtime", RemovedIn: 27),
        new("keep-terminated-pod-volumes", RemovedIn: 30),
        // Networking and DNS (of pods; the kubelet's own server keeps its authentication).
        new("cluster-dns"), new("cluster-domain"), new("resolv-conf"), new("hairpin-mode"), new("make-iptables-util-chains"),
        new("pod-cidr"), new("address"), new("port"), new("healthz-bind-address"), new("healthz-port"),
        new("streaming-connection-idle-timeout"), new("non-masquerade-cidr", RemovedIn: 24), new("network-plugin-mtu", RemovedIn: 24),
        // Pacing and logging.
        new("sync-frequency"), new("node-status-update-frequency"), new("node-status-max-images"), new("volume-stats-agg-period"),
        new("kube-api-qps"), new("kube-api-burst"), new("kube-api-content-type"), new("event-qps"), new("event-burst"),
        new("max-open-files"), new("oom-score-adj"), new("v"), new("vmodule"), new("logging-format"), new("log-flush-frequency"),
    }.ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>Flags refused whatever the version, with why; a flag in neither list is refused as unknown.</summary>
    public static readonly IReadOnlyDictionary<string, string> Refused = Reasons(
        ("it makes the kubelet run static pods from a path or URL the plan chooses, pods no API server admitted",
            ["pod-manifest-path", "manifest-url", "manifest-url-header", "file-check-frequency", "http-check-frequency"]),
        ("it changes the configuration or the API server credentials the kubelet trusts",
            ["config", "config-dir", "kubeconfig", "bootstrap-kubeconfig", "lock-file", "exit-on-lock-contention"]),
        ("it changes the kubelet's certificates or whom it trusts",
            ["cert-dir", "tls-cert-file", "tls-private-key-file", "client-ca-file", "rotate-certificates",
             "rotate-server-certificates", "tls-cipher-suites", "tls-min-version"]),
        ("it changes who may call the kubelet's API",
            ["anonymous-auth", "authorization-mode", "authentication-token-webhook", "authentication-token-webhook-cache-ttl",
             "authorization-webhook-cache-authorized-ttl", "authorization-webhook-cache-unauthorized-ttl", "read-only-port"]),
        ("it makes the kubelet run binaries from a place the plan chooses",
            ["image-credential-provider-config", "image-credential-provider-bin-dir", "volume-plugin-dir", "cni-bin-dir",
             "cni-conf-dir", "cni-cache-dir", "network-plugin", "experimental-mounter-path", "exec-plugin-dir"]),
        ("it moves where the kubelet keeps or writes its state",
            ["root-dir", "seccomp-profile-root", "log-dir", "log-file", "boot-id-file", "cloud-config",
             "dynamic-config-dir", "experimental-dockershim-root-directory"]),
        ("it points the kubelet at another container runtime socket; set spec.runtime.endpoint",
            ["image-service-endpoint", "docker-endpoint"]));

    /// <summary>
    /// Null when a plan for Kubernetes 1.<paramref name="minor"/> (null: unknown) may set --<paramref name="flag"/>,
    /// else why not, naming the flag.
    /// </summary>
    public static string? Error(string flag, int? minor)
    {
        if (Refused.TryGetValue(flag, out var why)) return $"--{flag} is refused: {why}";
        if (!AllowList.TryGetValue(flag, out var allowed))
            return $"--{flag} is not a kubelet flag a plan may set (the allowed flags are listed in the README, \"Kubelet flags\")";
        if (allowed.RemovedIn is { } removed && minor is { } m && m >= removed)
            return $"--{flag} was removed in kubelet v1.{removed}; the plan is for v1.{m}";
        return null;
    }

    private static Dictionary<string, string> Reasons(params (string Why, string[] Flags)[] groups)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (why, flags) in groups)
        {
            foreach (var f in flags) map.Add(f, why);
        }
        return map;
    }
}
