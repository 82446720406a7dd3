using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The real binaries on bad input: one "error: …" line naming what and where, exit code 1, never an unhandled
/// exception, a stack trace or a .NET type name. None of these reaches a coordinator: the config's address is a port
/// where nothing listens, so a command that got that far would say "cannot reach the coordinator".
/// </summary>
public sealed class CliErrorTests : IAsyncLifetime
{
    private readonly TempDir _dir = new("nf-cli-errors");
    private string _config = "";
    private string _otherConfig = "";
    private string _plan = "";

    public async Task InitializeAsync()
    {
        _config = await InitAsync("a");
        _otherConfig = await InitAsync("b");
        _plan = _dir.Combine("plan.yaml");
        await File.WriteAllTextAsync(_plan, AgentApplyTests.Plan);
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A fresh coordinator data directory (its own CA); the path of its admin.conf.</summary>
    private async Task<string> InitAsync(string name)
    {
        var data = _dir.Combine(name);
        var init = await Proc.RunAsync(Binaries.Coordinator, ["init", "--data-dir", data, "--advertise-address", $"127.0.0.1:{Proc.FreePort()}"]);
        Assert.True(init.ExitCode == 0, init.ToString());
        return Path.Combine(data, "admin.conf");
    }

    /// <summary>A copy of the admin.conf with one field's value replaced; its path and the line of that field.</summary>
    private (string Path, int Line) ConfigWith(string field, string value)
    {
        var lines = File.ReadAllLines(_config);
        var index = Array.FindIndex(lines, l => l.StartsWith(field + ":", StringComparison.Ordinal));
        lines[index] = $"{field}: {value}";
        var path = _dir.Combine($"with-{field}-{Guid.NewGuid():N}.yaml");
        File.WriteAllLines(path, lines);
        return (path, index + 1);
    }

    private static string FieldOf(string config, string field) =>
        File.ReadAllLines(config).Single(l => l.StartsWith(field + ":", StringComparison.Ordinal))[(field.Length + 1)..].Trim();

    private Task<ProcResult> CliAsync(params string[] args) =>
        Proc.RunAsync(Binaries.Cli, args, new Dictionary<string, string> { ["NODEFLEET_CONFIG"] = _config });

    /// <summary>Exit code 1, and stderr is exactly the given error line (plus, for a flag, the usage hint).</summary>
    private static void AssertError(ProcResult r, string expected, bool usageHint = false)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.DoesNotContain("Unhandled exception", r.All);
        Assert.DoesNotContain("   at ", r.All);
        Assert.DoesNotContain("System.", r.All);
        Assert.DoesNotContain("Exception", r.All);
        var lines = r.StdErr.TrimEnd('\n').Split('\n');
        Assert.Equal(expected, lines[0]);
        Assert.Equal(usageHint ? 2 : 1, lines.Length);
        if (usageHint) Assert.StartsWith("Run 'nodefleet ", lines[1]);
    }

    [Fact]
    public async Task Durations_too_long_for_a_timespan()
    {
        AssertError(await CliAsync("token", "create", "--ttl", "99999999d"),
            "error: --ttl: '99999999d' is too long: a duration is at most 36500d (100 years)");
        AssertError(await CliAsync("rollout", "start", _plan, "-l", "role=worker", "--pause-between-waves", "99999999999d", "--dry-run"),
            "error: --pause-between-waves: '99999999999d' is too long: a duration is at most 36500d (100 years)");

        var coordinator = await Proc.RunAsync(Binaries.Coordinator, ["run", "--data-dir", Path.GetDirectoryName(_config)!,
            "--listen", $"127.0.0.1:{Proc.FreePort()}", "--metrics-listen", "off", "--heartbeat-interval", "99999999999d"]);
        Assert.Equal(1, coordinator.ExitCode);
        Assert.DoesNotContain("Unhandled exception", coordinator.All);
        Assert.DoesNotContain("   at ", coordinator.All);
        Assert.Contains("heartbeatInterval: '99999999999d' is too long", coordinator.StdErr);
    }

    // --limit abc used to abort the process (exit 134) from inside the option's validator.
    [Fact]
    public async Task Events_limit_that_is_not_a_number()
    {
        AssertError(await CliAsync("events", "--limit", "abc"), "error: --limit: expected a whole number from 0 to 1000, got 'abc'", usageHint: true);
        AssertError(await CliAsync("events", "-f", "--limit", "abc"), "error: --limit: expected a whole number from 0 to 1000, got 'abc'", usageHint: true);
    }

    [Fact]
    public async Task Numbers_are_refused_in_the_products_words()
    {
        AssertError(await CliAsync("token", "create", "--usages", "-3"), "error: --usages: expected a whole number ≥ 0, got '-3'", usageHint: true);
        AssertError(await CliAsync("rollout", "start", _plan, "-l", "role=worker", "--prepare-concurrency", "abc", "--dry-run"),
            "error: --prepare-concurrency: expected a whole number ≥ 1, got 'abc'", usageHint: true);
        AssertError(await CliAsync("rollout", "start", _plan, "-l", "role=worker", "--canary", "x", "--dry-run"),
            "error: --canary: expected a whole number ≥ 0, got 'x'", usageHint: true);
    }

    [Fact]
    public async Task A_client_key_that_is_not_a_key_or_not_the_certificates()
    {
        var (notKey, line) = ConfigWith("clientKeyData", "aGVsbG8=");
        AssertError(await CliAsync("--config", notKey, "nodes"), $"error: {notKey}:{line}: clientKeyData is not a PEM private key");
        var (otherKey, keyLine) = ConfigWith("clientKeyData", FieldOf(_otherConfig, "clientKeyData"));
        AssertError(await CliAsync("--config", otherKey, "nodes"), $"error: {otherKey}:{keyLine}: clientKeyData does not match clientCertificateData");
    }

    // An unquoted !!!notbase64 is a YAML tag: it used to read as an empty value, "certificateAuthorityData is missing".
    [Fact]
    public async Task A_ca_that_is_not_base64_in_the_cli_config_and_in_a_discovery_file()
    {
        var (path, line) = ConfigWith("certificateAuthorityData", "!!!notbase64");
        AssertError(await CliAsync("--config", path, "nodes"),
            $"error: {path}:{line}: certificateAuthorityData is not valid base64 (expected a base64-encoded PEM certificate)");

        // The agent reads a discovery file (admin.conf without its client lines will do) with the same code.
        var discovery = _dir.Combine("discovery.yaml");
        await File.WriteAllLinesAsync(discovery, File.ReadAllLines(path).Where(l => !l.StartsWith("client", StringComparison.Ordinal)));
        using var root = new TempDir("nf-agent-root");
        var join = await Proc.RunAsync(Binaries.Agent, ["--root", root.Path, "join", "--token", "abcdef.0123456789abcdef",
            "--discovery-file", discovery, "127.0.0.1:1"]);
        AssertError(join, $"error: discovery file {discovery}:{line}: certificateAuthorityData is not valid base64 (expected a base64-encoded PEM certificate)");
    }

    // A directory used to be "Access to the path … is denied".
    [Fact]
    public async Task A_directory_where_a_file_is_expected()
    {
        AssertError(await CliAsync("--config", _dir.Path, "nodes"), $"error: cannot read config {_dir.Path}: it is a directory");
        var validate = await CliAsync("plan", "validate", _dir.Path);
        Assert.Equal(1, validate.ExitCode);
        Assert.Equal($"error: {_dir.Path}: cannot read plan: it is a directory\n", validate.StdErr);
    }
}
