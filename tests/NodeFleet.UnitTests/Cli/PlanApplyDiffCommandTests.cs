using NodeFleet.Cli;
using NodeFleet.Cli.Commands;
using NodeFleet.Cli.Output;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Cli.CliRun;

namespace NodeFleet.Tests.Cli;

/// <summary>
/// `plan apply` and `plan diff` up to the network: the plan and the flags are checked locally first. The config points
/// at 127.0.0.1:1, where nothing listens, so any call made would fail with "cannot reach the coordinator".
/// </summary>
public sealed class PlanApplyDiffCommandTests : IDisposable
{
    private const string Nowhere = "127.0.0.1:1";
    private readonly TempDir _dir = new();
    private readonly string _config;

    public PlanApplyDiffCommandTests() => _config = WriteConfig(_dir, Nowhere);

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("apply")]
    [InlineData("diff")]
    public async Task An_invalid_plan_is_reported_with_file_and_line_and_nothing_is_sent(string verb)
    {
        var file = PlanTestData.PathOf("bad-unknown-runtime.yaml");
        var (code, stdout, stderr) = await Run("plan", verb, file, "--node", "worker-1", "--config", _config, "--coordinator", Nowhere);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: {file}:8: spec.runtime.kind: unknown runtime 'podman'", stderr);
        Assert.Equal(PlanTestData.Load("bad-unknown-runtime.yaml").Errors.Select(e => $"error: {e}"), stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("cannot reach", stderr);
    }

    [Theory]
    [InlineData("apply")]
    [InlineData("diff")]
    public async Task A_valid_plan_goes_to_the_coordinator(string verb)
    {
        // The control for the test above: the same command with a valid plan does try to connect.
        var (code, stdout, stderr) = await Run("plan", verb, PlanTestData.PathOf("valid-minimal.yaml"), "--node", "worker-1",
            "--config", _config, "--coordinator", Nowhere);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: cannot reach the coordinator at {Nowhere}", stderr);
    }

    [Fact]
    public async Task A_missing_plan_file_is_reported_before_connecting()
    {
        var (code, _, stderr) = await Run("plan", "apply", "/nonexistent/plan.yaml", "--node", "w", "--config", _config);
        Assert.Equal(1, code);
        Assert.StartsWith("error: /nonexistent/plan.yaml: cannot read plan", stderr);
    }

    [Theory]
    [InlineData("--timeout=5m", "error: --timeout is only meaningful with --wait")]
    [InlineData("--wait -o json", "error: --wait cannot be combined with -o")]
    [InlineData("--wait --timeout=soon", "error: --timeout: 'soon' is not a duration")]
    [InlineData("--wait --timeout=99999999d", "error: --timeout: '99999999d' is too long: a duration is at most 36500d (100 years)")]
    [InlineData("--wait --timeout=0", "error: --timeout must be more than 0")]
    public async Task Apply_flags_are_checked_before_the_plan_and_the_network(string flags, string expected)
    {
        string[] args = ["plan", "apply", PlanTestData.PathOf("bad-unknown-runtime.yaml"), "--node", "w", "--config", _config, .. flags.Split(' ')];
        var (code, _, stderr) = await Run(args);
        Assert.Equal(1, code);
        Assert.StartsWith(expected, stderr);
    }

    [Theory]
    [InlineData("apply")]
    [InlineData("diff")]
    public async Task The_node_is_required(string verb)
    {
        var (code, _, stderr) = await Run("plan", verb, PlanTestData.PathOf("valid-minimal.yaml"));
        Assert.Equal(1, code);
        Assert.Contains("--node", stderr);
        Assert.Contains($"Run 'nodefleet plan {verb} --help' for usage.", stderr);
    }

    [Fact]
    public async Task Plan_help_lists_apply_and_diff()
    {
        var (code, stdout, _) = await Run("plan");
        Assert.Equal(0, code);
        Assert.Contains("apply", stdout);
        Assert.Contains("diff", stdout);
    }

    [Fact]
    public void Ignore_preflight_errors_may_be_comma_joined_or_repeated()
    {
        Assert.Equal(["Swap", "Port-10250", "all"], PlanCommands.IgnoreList(["Swap, Port-10250", "", "all,swap"]));
        var request = PlanCommands.Request(new NodeFleet.Protocol.V1.NodePlan(), " worker-1 ", ["all"]);
        Assert.Equal("worker-1", request.Node);
        Assert.Equal(["all"], request.IgnorePreflightErrors);
    }

    [Fact]
    public async Task Ignore_preflight_errors_parses_in_both_spellings()
    {
        // Both forms get past parsing to the network (the plan is valid), so the only error is the unreachable coordinator.
        foreach (var args in new[] { new[] { "--ignore-preflight-errors=Swap,DiskSpace" }, ["--ignore-preflight-errors", "all"] })
        {
            var (code, _, stderr) = await Run(["plan", "diff", PlanTestData.PathOf("valid-minimal.yaml"), "--node", "w", "--config", _config, .. args]);
            Assert.Equal(1, code);
            Assert.StartsWith("error: cannot reach the coordinator", stderr);
        }
    }

    [Fact]
    public void Wait_timeout_defaults_to_ten_minutes() =>
        Assert.Equal(TimeSpan.FromMinutes(10), PlanCommands.WaitTimeout(true, null, OutputFormat.Table));
}
