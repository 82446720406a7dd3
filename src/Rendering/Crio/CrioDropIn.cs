using System.Text;

namespace NodeFleet.Rendering;

/// <summary>What NodeFleet sets in CRI-O: the cgroup manager (it must match the kubelet's) and the pause image.</summary>
public sealed record CrioSettings(CgroupDriver CgroupDriver, string PauseImage);

/// <summary>
/// Renders CRI-O's drop-in <c>/etc/crio/crio.conf.d/20-nodefleet.conf</c> (crio.conf(5) TOML). CRI-O reads drop-ins in
/// name order after <c>crio.conf</c>, a later one overriding the keys it sets; the whole file is owned by NodeFleet.
/// </summary>
public static class CrioDropIn
{
    public const string DefaultPath = "/etc/crio/crio.conf.d/20-nodefleet.conf";

    /// <summary>
    /// The desired bytes of the drop-in. With cgroupfs, <c>conmon_cgroup</c> must be <c>"pod"</c> (CRI-O refuses a
    /// systemd slice there); with systemd it is left to CRI-O's default.
    /// </summary>
    public static byte[] Render(CrioSettings settings)
    {
        FileText.RequireSingleToken(settings.PauseImage, "pause image");
        var sb = new StringBuilder();
        sb.Append(FileText.Header).Append('\n');
        sb.Append("[crio.runtime]\n");
        sb.Append("cgroup_manager = ").Append(TomlText.Quote(settings.CgroupDriver.Name())).Append('\n');
        if (settings.CgroupDriver == CgroupDriver.Cgroupfs)
            sb.Append("conmon_cgroup = \"pod\"\n");
        sb.Append('\n');
        sb.Append("[crio.image]\n");
        sb.Append("pause_image = ").Append(TomlText.Quote(settings.PauseImage)).Append('\n');
        return FileText.Encode(sb.ToString());
    }
}
