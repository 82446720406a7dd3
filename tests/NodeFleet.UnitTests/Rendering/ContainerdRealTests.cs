using System.Diagnostics;
using NodeFleet.Rendering;
using NodeFleet.Tests.TestSupport;
using Tomlyn;
using Tomlyn.Model;

namespace NodeFleet.Tests.Rendering;

/// <summary>
/// The rendered config.toml as the real containerd reads it: <c>containerd --config FILE config dump</c> prints the
/// configuration merged with its defaults. Needs /usr/bin/containerd (scripts/test.sh installs Debian's containerd).
/// </summary>
public class ContainerdRealTests
{
    private const string Containerd = "/usr/bin/containerd";

    public static TheoryData<string?, bool> Cases => new()
    {
        { null, true },
        { null, false },
        { "containerd-1.6-default.toml", true },
        { "containerd-1.6-default.toml", false },
        { "containerd-custom.toml", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Containerd_reads_the_rendered_values(string? input, bool systemd)
    {
        var settings = systemd ? ContainerdConfigTests.Systemd : ContainerdConfigTests.Cgroupfs;
        var rendered = ContainerdConfig.Render(input is null ? null : Golden.Input(input), settings);

        using var dir = new TempDir();
        var file = dir.File("config.toml");
        File.WriteAllBytes(file, rendered);
        var dump = TomlSerializer.Deserialize<TomlTable>(Dump(file))!;

        var cri = (TomlTable)((TomlTable)dump["plugins"]!)["io.containerd.grpc.v1.cri"]!;
        var runc = (TomlTable)((TomlTable)((TomlTable)cri["containerd"]!)["runtimes"]!)["runc"]!;
        Assert.Equal(2L, dump["version"]);
        Assert.Equal("registry.k8s.io/pause:3.10", cri["sandbox_image"]);
        Assert.Equal("io.containerd.runc.v2", runc["runtime_type"]);
        Assert.Equal(systemd, ((TomlTable)runc["options"]!)["SystemdCgroup"]);
        Assert.Equal("/etc/containerd/certs.d", ((TomlTable)cri["registry"]!)["config_path"]);
        if (input == "containerd-custom.toml")
            Assert.Equal("/data/containerd", dump["root"]); // the user's keys survive the merge
    }

    private static string Dump(string config)
    {
        Assert.True(File.Exists(Containerd), $"{Containerd} is missing: install Debian's containerd package (scripts/test.sh does)");
        var psi = new ProcessStartInfo(Containerd) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--config", config, "config", "dump" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000), "containerd config dump did not finish in 30 s");
        Assert.True(p.ExitCode == 0, $"containerd config dump failed ({p.ExitCode}): {stderr.Result}");
        return stdout.Result;
    }
}
