using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// What the coordinator says when it cannot start: one `error:` line naming what and where, exit code 1, never a
/// stack trace.
/// </summary>
public sealed class CoordinatorErrorTests
{
    /// <summary>Exit code 1, and stderr is exactly `error: <paramref name="message"/>`, with no trace anywhere.</summary>
    internal static void AssertError(ProcResult r, string message)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Equal($"error: {message}", r.StdErr.TrimEnd('\n'));
        Assert.DoesNotContain("Unhandled exception", r.All);
        Assert.DoesNotContain("   at ", r.All);
    }

    private static async Task<string> InitAsync(TempDir dir)
    {
        var data = dir.Combine("data");
        var init = await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--advertise-address", "127.0.0.1:7443"]);
        Assert.True(init.ExitCode == 0, init.ToString());
        return data;
    }

    private static Task<ProcResult> RunAsync(params string[] args) =>
        Proc.RunAsync(Binaries.Coordinator, ["run", "--listen", $"127.0.0.1:{Proc.FreePort()}", "--metrics-listen", "off", .. args]);

    [Fact]
    public async Task An_empty_data_dir_flag_is_named()
    {
        AssertError(await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", ""]), "--data-dir is empty");
        AssertError(await RunAsync("--data-dir", ""), "--data-dir is empty");
    }

    [Fact]
    public async Task A_config_file_that_does_not_parse_is_named_with_its_line()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        var config = dir.Combine("bad.yaml");
        await File.WriteAllTextAsync(config, $"dataDir: {data}\nlisten: [127.0.0.1:1\nlogLevel: Debug\n");
        AssertError(await RunAsync("--config", config), $"{config}:2: not valid YAML here (an unclosed [ or {{, or a misplaced ':'?)");

        await File.WriteAllBytesAsync(config, [.. "dataDir: x\n"u8, 0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xc8, 0xff]);
        AssertError(await RunAsync("--config", config), $"{config}:2: not a text file (byte 0xc8 is not UTF-8)");
    }

    [Fact]
    public async Task An_unknown_key_in_the_config_file_is_refused()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        var config = dir.Combine("coordinator.yaml");
        await File.WriteAllTextAsync(config, $"dataDir: {data}\nbogusKey: 1\n");
        var r = await RunAsync("--config", config);
        AssertError(r, $"{config}:2: unknown field 'bogusKey' (expected one of: listen, metricsListen, dataDir, heartbeatInterval, " +
                       "maxHeartbeatRate, logFormat, logLevel)");
    }

    [Fact]
    public async Task A_heartbeat_rate_that_is_not_a_number_says_what_is_expected()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        AssertError(await RunAsync("--data-dir", data, "--max-heartbeat-rate", "abc"),
            "maxHeartbeatRate 'abc' is not a number: give heartbeats per second, at least 0 (0: no bound)");
    }

    [Fact]
    public async Task Init_refuses_a_serving_name_that_is_not_an_ip_or_dns_name()
    {
        using var dir = new TempDir();
        var data = dir.Combine("data");
        AssertError(await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--cert-extra-sans", "ok.example.com,bad name!"]),
            "--cert-extra-sans 'bad name!': not an IP address or a DNS name: ' ' is not allowed in a DNS name " +
            "(letters, digits, '-' and '.'; an internationalised name in its xn-- form)");
        AssertError(await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--cert-extra-sans", "a.*.example.com"]),
            "--cert-extra-sans 'a.*.example.com': not an IP address or a DNS name: a wildcard may only be the whole first label (*.example.com)");
        Assert.False(Directory.Exists(data));
    }
}
