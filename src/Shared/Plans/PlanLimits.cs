using System.Globalization;

namespace NodeFleet.Plans;

/// <summary>
/// How big a plan may be. A real plan is a few kilobytes: kubeadm's image list is seven images, a node installs a
/// handful of binaries, sets a dozen kubelet flags and mirrors a few registries. Each limit is far above that and
/// far below what would make a plan costly to check, store and send to every node of a fleet. The CLI, the
/// coordinator and the agent all refuse a plan beyond them (<see cref="PlanValidator"/>), the file size before it is
/// parsed (<see cref="PlanLoader.LoadFile"/>).
/// </summary>
public static class PlanLimits
{
    /// <summary>A plan file, and a plan's protobuf encoding on the wire: 1 MiB.</summary>
    public const int MaxPlanBytes = 1024 * 1024;

    /// <summary>spec.images: kubeadm's own list is 7; a plan that also pre-pulls its add-ons lists a few dozen.</summary>
    public const int MaxImages = 500;

    /// <summary>spec.artifacts: kubelet, kubeadm, kubectl, CNI plugins and the like.</summary>
    public const int MaxArtifacts = 100;

    /// <summary>spec.kubelet.extraArgs: the kubelet has about 150 flags in all.</summary>
    public const int MaxExtraArgs = 200;

    /// <summary>spec.registry.mirrors: upstream registries mirrored.</summary>
    public const int MaxMirroredRegistries = 50;

    /// <summary>Endpoints listed for one mirrored registry.</summary>
    public const int MaxMirrorEndpoints = 10;

    /// <summary>
    /// Any one text of a plan (an image reference, a URL, a flag value, a path): long enough for a pre-signed
    /// download URL, short enough that an error quoting it stays readable.
    /// </summary>
    public const int MaxStringLength = 4096;

    /// <summary>"1 MiB", "500 KiB", "12 bytes": how limits and sizes read in errors.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1024 * 1024 when bytes % (1024 * 1024) == 0 => $"{bytes / (1024 * 1024)} MiB",
        >= 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB"),
        >= 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        _ => $"{bytes} bytes",
    };

    /// <summary>The error for a plan of <paramref name="bytes"/> bytes (of file or of encoding).</summary>
    public static string TooLarge(long bytes, string what) =>
        $"{what} is {Bytes(bytes)} ({bytes} bytes); a plan may be at most {Bytes(MaxPlanBytes)} ({MaxPlanBytes} bytes)";
}
