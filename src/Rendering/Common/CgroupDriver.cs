namespace NodeFleet.Rendering;

/// <summary>The cgroup driver shared by the kubelet and the container runtime; they must agree.</summary>
public enum CgroupDriver
{
    Systemd,
    Cgroupfs,
}

/// <summary>The spelling of <see cref="CgroupDriver"/> that kubelet, containerd, CRI-O and Docker all use.</summary>
public static class CgroupDrivers
{
    /// <summary>"systemd" or "cgroupfs".</summary>
    public static string Name(this CgroupDriver driver) => driver switch
    {
        CgroupDriver.Systemd => "systemd",
        CgroupDriver.Cgroupfs => "cgroupfs",
        _ => throw new ArgumentOutOfRangeException(nameof(driver), driver, "unknown cgroup driver"),
    };

    /// <summary>Parses "systemd" or "cgroupfs" (case-insensitive, as the runtimes report it).</summary>
    public static CgroupDriver Parse(string value) => value.Trim().ToLowerInvariant() switch
    {
        "systemd" => CgroupDriver.Systemd,
        "cgroupfs" => CgroupDriver.Cgroupfs,
        _ => throw new RenderException($"unknown cgroup driver '{value}': expected 'systemd' or 'cgroupfs'"),
    };
}
