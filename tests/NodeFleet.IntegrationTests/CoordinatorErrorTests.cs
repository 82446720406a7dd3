using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
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
                       "maxHeartbeatRate, maxReconnectRate, logFormat, logLevel, store, connectionFirstByteTimeout, maxSilentConnectionsPerSource, " +
                       "maxHandshakesPerSource, retentionEvents, retentionRunsPerNode, retentionSweepInterval, nodeCertificateLifetime, " +
                       "servingCertificateLifetime, leaseTtl, coordinators, reportBatches)");
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
    public async Task A_data_dir_that_is_a_regular_file_is_not_a_directory()
    {
        using var dir = new TempDir();
        var file = dir.Combine("data");
        await File.WriteAllTextAsync(file, "x");
        AssertError(await RunAsync("--data-dir", file), $"data directory {file} is not a directory");
        AssertError(await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", file]), $"data directory {file} is not a directory");
        AssertError(await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", Path.Combine(file, "sub")]),
            $"cannot create data directory {Path.Combine(file, "sub")}: {file} is not a directory");
    }

    [Fact]
    public async Task A_database_that_is_a_directory_is_named()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        var db = Path.Combine(data, "coordinator.db");
        File.Delete(db);
        Directory.CreateDirectory(db);
        AssertError(await RunAsync("--data-dir", data), $"database {db} is a directory, not a database file");
    }

    [Fact]
    public async Task A_data_dir_this_user_may_not_read_is_permission_denied_not_uninitialised()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        ProcResult r;
        if (Environment.IsPrivilegedProcess)
        {
            // root reads anything: run the coordinator as nobody on root's 0700 directory (its parent open to all).
            File.SetUnixFileMode(dir.Path, (UnixFileMode)Convert.ToInt32("755", 8));
            File.SetUnixFileMode(data, (UnixFileMode)Convert.ToInt32("700", 8));
            r = await Proc.RunAsync("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", Binaries.Coordinator,
                "run", "--data-dir", data, "--listen", $"127.0.0.1:{Proc.FreePort()}", "--metrics-listen", "off"]);
            Assert.False(r.StdErr.Contains("setpriv:", StringComparison.Ordinal), $"the binary must be reachable by user nobody for this test\n{r}");
            AssertError(r, $"cannot read data directory {data}: permission denied (the coordinator runs as user 'nobody')");
        }
        else
        {
            File.SetUnixFileMode(data, UnixFileMode.None);
            try
            {
                r = await RunAsync("--data-dir", data);
                AssertError(r, $"cannot read data directory {data}: permission denied (the coordinator runs as user '{Environment.UserName}')");
            }
            finally { File.SetUnixFileMode(data, (UnixFileMode)Convert.ToInt32("700", 8)); }
        }
    }

    [Theory]
    [InlineData("ca.crt", "not a PEM certificate")]
    [InlineData("ca.key", "not a PEM private key")]
    [InlineData("serving.crt", "not a PEM certificate")]
    [InlineData("serving.key", "not a PEM private key")]
    public async Task A_pki_file_that_does_not_parse_is_named(string file, string what)
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        var path = Path.Combine(data, "pki", file);
        await File.WriteAllTextAsync(path, "garbage\n");
        AssertError(await RunAsync("--data-dir", data), $"{path}: {what}");
    }

    [Fact]
    public async Task A_ca_key_that_does_not_match_the_ca_certificate_is_refused_at_startup()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        var other = dir.Combine("other");
        Assert.Equal(0, (await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", other, "--advertise-address", "127.0.0.1:7443"])).ExitCode);
        File.Copy(Path.Combine(other, "pki", "ca.key"), Path.Combine(data, "pki", "ca.key"), overwrite: true);
        AssertError(await RunAsync("--data-dir", data), $"{Path.Combine(data, "pki", "ca.key")} does not match {Path.Combine(data, "pki", "ca.crt")}");
    }

    [Fact]
    public async Task A_lost_serving_key_is_named_and_reissue_serving_cert_brings_the_coordinator_back()
    {
        using var dir = new TempDir();
        var data = dir.Combine("data");
        var port = Proc.FreePort();
        Assert.Equal(0, (await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--advertise-address", $"127.0.0.1:{port}"])).ExitCode);
        var key = Path.Combine(data, "pki", "serving.key");
        File.Delete(key);
        string[] run = ["run", "--data-dir", data, "--listen", $"127.0.0.1:{port}", "--metrics-listen", "off"];
        AssertError(await Proc.RunAsync(Binaries.Coordinator, run),
            $"{key} is missing: restore it from a backup of {data}, or issue a new serving certificate from the CA " +
            $"with `nodefleet-coordinator reissue-serving-cert --data-dir {data}`");
        // init is no way out: it does not overwrite an initialised directory.
        AssertError(await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data]),
            $"{data} is already initialised (found {Path.Combine(data, "pki", "ca.crt")}); refusing to overwrite its CA");

        var reissue = await Proc.RunAsync(Binaries.Coordinator, ["reissue-serving-cert", "--data-dir", data]);
        Assert.True(reissue.ExitCode == 0, reissue.ToString());
        await using var coordinator = Proc.Start(Binaries.Coordinator, run);
        await coordinator.WaitForOutputAsync("serving on", TimeSpan.FromSeconds(30));
        // The CLI, which trusts the CA of admin.conf, accepts the new certificate.
        var tokens = await Proc.RunAsync(Binaries.Cli, ["token", "list"],
            new Dictionary<string, string> { ["NODEFLEET_CONFIG"] = Path.Combine(data, "admin.conf") });
        Assert.True(tokens.ExitCode == 0, tokens.ToString());
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

    [Fact]
    public async Task A_port_in_use_is_one_line_naming_the_address_and_for_metrics_the_setting()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var r = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", data, "--listen", $"127.0.0.1:{port}", "--metrics-listen", "off"]);
        AssertError(r, $"cannot listen on 127.0.0.1:{port}: address already in use");
        Assert.Equal("", r.StdOut); // no "Hosting failed to start", no "BackgroundService failed"

        r = await Proc.RunAsync(Binaries.Coordinator,
            ["run", "--data-dir", data, "--listen", $"127.0.0.1:{Proc.FreePort()}", "--metrics-listen", $"127.0.0.1:{port}"]);
        AssertError(r, $"cannot listen on 127.0.0.1:{port} for /metrics (--metrics-listen): address already in use");
        Assert.Equal("", r.StdOut);
    }

    [Fact]
    public async Task An_address_not_on_this_machine_is_named()
    {
        using var dir = new TempDir();
        var data = await InitAsync(dir);
        var local = NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address).ToHashSet();
        var ip = new[] { "203.0.113.77", "198.51.100.77", "192.0.2.77" }.Select(IPAddress.Parse).First(a => !local.Contains(a));
        var r = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", data, "--listen", $"{ip}:7443", "--metrics-listen", "off"]);
        AssertError(r, $"cannot listen on {ip}:7443: cannot assign requested address ({ip} is not an address of this machine)");
        Assert.Equal("", r.StdOut);
    }

    [Fact]
    public async Task Every_key_of_the_shipped_config_file_is_known()
    {
        using var dir = new TempDir();
        var shipped = await File.ReadAllLinesAsync(Path.Combine(Binaries.RepoRoot, "packaging", "config", "coordinator.yaml"));
        // Each setting is there commented out with its default: uncomment them all.
        var settings = shipped.Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, "^#[a-zA-Z]+: ")).Select(l => l[1..]).ToList();
        Assert.Equal(16, settings.Count);
        var config = dir.Combine("coordinator.yaml");
        await File.WriteAllLinesAsync(config, settings);
        var missing = dir.Combine("missing");
        // Read without complaint: what stops it is the data directory of the flag.
        AssertError(await RunAsync("--config", config, "--data-dir", missing),
            $"data directory {missing} does not exist: run `nodefleet-coordinator init --data-dir {missing}` first");
    }
}
