using System.Text;
using System.Text.RegularExpressions;

namespace NodeFleet.Rendering;

/// <summary>
/// What NodeFleet passes to kubelet on its command line: the CRI endpoint (<c>unix:///…</c>), the cgroup driver, and
/// extra flags by name (without dashes) → value. <paramref name="KubernetesVersion"/> is the kubelet release the
/// drop-in is for (<c>v1.31.2</c>); flags that release no longer has are refused.
/// </summary>
public sealed record KubeletDropInSettings(
    string KubernetesVersion,
    string ContainerRuntimeEndpoint,
    CgroupDriver CgroupDriver,
    IReadOnlyDictionary<string, string> ExtraArgs);

/// <summary>
/// Renders a systemd drop-in for <c>kubelet.service</c> that sets <c>KUBELET_EXTRA_ARGS</c>, the variable kubeadm's
/// unit passes to kubelet. The whole file is owned by NodeFleet.
/// </summary>
public static partial class KubeletDropIn
{
    public const string Directory = "/etc/systemd/system/kubelet.service.d";
    public const string DefaultName = "20-nodefleet.conf";

    // Flags NodeFleet sets from typed settings; passing them again as extra args would be ambiguous.
    private static readonly string[] Managed = ["container-runtime-endpoint", "cgroup-driver"];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.@-]*\\.conf$")]
    private static partial Regex DropInName();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex FlagName();

    /// <summary>The path of drop-in <paramref name="dropInName"/> (a plain file name ending in <c>.conf</c>).</summary>
    public static string PathFor(string dropInName = DefaultName)
    {
        if (!DropInName().IsMatch(dropInName ?? ""))
            throw new RenderException($"kubelet drop-in name '{dropInName}' must be a plain file name ending in .conf");
        return Directory + "/" + dropInName;
    }

    /// <summary>
    /// The desired bytes of the drop-in: a header comment, <c>[Service]</c>, and one <c>Environment=</c> line with
    /// <c>--container-runtime-endpoint</c>, <c>--cgroup-driver</c>, then the extra flags sorted by name as
    /// <c>--name=value</c>. Throws <see cref="RenderException"/> for a flag the target release removed, a flag NodeFleet
    /// already sets, or a name or value that cannot be passed safely through systemd.
    /// </summary>
    public static byte[] Render(KubeletDropInSettings settings)
    {
        var version = Rendering.KubernetesVersion.Parse(settings.KubernetesVersion);
        var endpoint = FileText.RequireSingleToken(settings.ContainerRuntimeEndpoint, "container runtime endpoint");
        if (!endpoint.StartsWith("unix:///", StringComparison.Ordinal))
            throw new RenderException($"container runtime endpoint '{endpoint}' must be a unix socket URL (unix:///run/containerd/containerd.sock)");

        var args = new List<string>
        {
            $"--container-runtime-endpoint={endpoint}",
            $"--cgroup-driver={settings.CgroupDriver.Name()}",
        };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (rawName, value) in settings.ExtraArgs.OrderBy(a => a.Key.TrimStart('-'), StringComparer.Ordinal))
        {
            var name = rawName.TrimStart('-');
            if (!FlagName().IsMatch(name))
                throw new RenderException($"kubelet flag name '{rawName}' is not a flag name (lower-case letters, digits and dashes)");
            if (!seen.Add(name))
                throw new RenderException($"kubelet flag --{name} is given twice");
            if (Managed.Contains(name))
                throw new RenderException($"kubelet flag --{name} is set by NodeFleet from the node's runtime settings; remove it from the extra args");
            if (KubeletFlags.RemovedFor(name, version) is { } removed)
                throw new RenderException(
                    $"kubelet flag --{name} was removed in Kubernetes {removed.RemovedIn} and kubelet {version} would refuse to start: {removed.Instead}");
            if (value.Length > 0) FileText.RequireSingleToken(value, $"value of kubelet flag --{name}");
            args.Add($"--{name}={value}");
        }

        var sb = new StringBuilder();
        sb.Append(FileText.Header).Append('\n');
        sb.Append("[Service]\n");
        // systemd expands %-specifiers in Environment=; "%%" is a literal percent sign.
        sb.Append("Environment=\"KUBELET_EXTRA_ARGS=").Append(string.Join(' ', args).Replace("%", "%%", StringComparison.Ordinal)).Append("\"\n");
        return FileText.Encode(sb.ToString());
    }
}
