using NodeFleet.Cli;
using NodeFleet.Cli.Commands;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Cli.CliRun;

namespace NodeFleet.Tests.Cli;

/// <summary>
/// `rollout start` up to the network: flags, selector and plan are checked locally first. The config points at
/// 127.0.0.1:1, where nothing listens, so any call made would fail with "cannot reach the coordinator".
/// </summary>
public sealed class RolloutCommandTests : IDisposable
{
    private const string Nowhere = "127.0.0.1:1";
    private readonly TempDir _dir = new();
    private readonly string _config;

    public RolloutCommandTests() => _config = WriteConfig(_dir, Nowhere);

    public void Dispose() => _dir.Dispose();

    private Task<(int Code, string Out, string Err)> Start(string plan, params string[] flags) =>
        Run(["rollout", "start", PlanTestData.PathOf(plan), "-l", "role=worker", "--config", _config, "--coordinator", Nowhere, .. flags]);

    [Fact]
    public async Task An_invalid_plan_is_reported_with_file_and_line_and_nothing_is_sent()
    {
        var file = PlanTestData.PathOf("bad-unknown-runtime.yaml");
        var (code, stdout, stderr) = await Start("bad-unknown-runtime.yaml", "--dry-run");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: {file}:8: spec.runtime.kind: unknown runtime 'podman'", stderr);
        Assert.Equal(PlanTestData.Load("bad-unknown-runtime.yaml").Errors.Select(e => $"error: {e}"), stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("cannot reach", stderr);
    }

    [Theory]
    [InlineData("--dry-run")]
    [InlineData("--canary=0", "--max-unavailable=25%", "--max-failures=2", "--pause-between-waves=5m",
        "--phase-deadline", "prepull-images=20m,verify=2m", "--phase-deadline=kubelet-config=5m", "--ignore-preflight-errors=Swap")]
    public async Task A_valid_plan_and_flags_go_to_the_coordinator(params string[] flags)
    {
        // The control for the tests here: a valid command does try to connect.
        var (code, stdout, stderr) = await Start("valid-minimal.yaml", flags);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: cannot reach the coordinator at {Nowhere}", stderr);
    }

    [Theory]
    [InlineData("--max-unavailable=abc", "error: --max-unavailable 'abc' must be a whole number more than 0 or a percentage of the nodes from 1% to 100% (e.g. 2 or 10%)")]
    [InlineData("--max-unavailable=0", "error: --max-unavailable '0' must be")]
    [InlineData("--max-unavailable=150%", "error: --max-unavailable '150%' must be")]
    [InlineData("--max-unavailable=-1", "error: --max-unavailable '-1' must be")]
    [InlineData("--max-unavailable=1.5", "error: --max-unavailable '1.5' must be")]
    [InlineData("--max-failures=x%", "error: --max-failures 'x%' must be")]
    [InlineData("--canary=-1", "error: --canary: expected a whole number ≥ 0, got '-1'")]
    [InlineData("--pause-between-waves=soon", "error: --pause-between-waves: 'soon' is not a duration")]
    [InlineData("--pause-between-waves=99999999999d", "error: --pause-between-waves: '99999999999d' is too long: a duration is at most 36500d (100 years)")]
    [InlineData("--phase-deadline=verify=99999999999d", "error: --phase-deadline: '99999999999d' is too long")]
    [InlineData("--phase-deadline=kubelet=5m", "error: --phase-deadline: unknown phase 'kubelet' (phases: preflight, ")]
    [InlineData("--phase-deadline=verify", "error: --phase-deadline 'verify' must be PHASE=DURATION")]
    [InlineData("--phase-deadline=verify=0", "error: --phase-deadline: the deadline of verify must be more than 0")]
    [InlineData("--phase-deadline=verify=1m,verify=2m", "error: --phase-deadline: phase 'verify' given twice")]
    [InlineData("--prepare-concurrency=0", "error: --prepare-concurrency: expected a whole number ≥ 1, got '0'")]
    [InlineData("--no-prepare-ahead --prepare-concurrency=5", "error: --prepare-concurrency cannot be combined with --no-prepare-ahead")]
    [InlineData("-o table", "error: unknown output format 'table': use json, yaml")]
    public async Task Bad_flags_are_refused_before_the_plan_and_the_network(string flags, string expected)
    {
        // The plan is invalid too: a flag error comes first, and nothing is sent.
        var (code, stdout, stderr) = await Start("bad-unknown-runtime.yaml", flags.Split(' '));
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith(expected, stderr);
        Assert.DoesNotContain("cannot reach", stderr);
    }

    [Fact]
    public async Task A_bad_selector_is_refused_before_connecting()
    {
        var (code, _, stderr) = await Run("rollout", "start", PlanTestData.PathOf("valid-minimal.yaml"), "-l", "env in (a",
            "--config", _config, "--coordinator", Nowhere);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.DoesNotContain("cannot reach", stderr);
    }

    [Fact]
    public async Task The_selector_is_required()
    {
        var (code, _, stderr) = await Run("rollout", "start", PlanTestData.PathOf("valid-minimal.yaml"), "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("--selector", stderr);
        Assert.Contains("Run 'nodefleet rollout start --help' for usage.", stderr);
    }

    [Fact]
    public async Task Status_refuses_watch_with_an_output_format()
    {
        var (code, _, stderr) = await Run("rollout", "status", "r1", "-w", "-o", "json", "--config", _config);
        Assert.Equal(1, code);
        Assert.Equal("error: --watch cannot be combined with -o\n", stderr);
    }

    [Fact]
    public void The_strategy_always_carries_canary_and_both_budgets()
    {
        var s = RolloutCommands.Strategy(0, null, null, null, null, false, null);
        Assert.Equal(0, s.Canary);
        Assert.Equal("1", s.MaxUnavailable);
        Assert.Equal("1", s.MaxFailures);
        Assert.Null(s.PauseBetweenWaves);
        Assert.Empty(s.PhaseDeadlines);
        Assert.Equal(0, s.PrepareConcurrency);

        s = RolloutCommands.Strategy(2, " 10% ", "3", "90s", ["prepull-images=20m", "verify=2m"], true, null);
        Assert.Equal("10%", s.MaxUnavailable);
        Assert.Equal(TimeSpan.FromSeconds(90), s.PauseBetweenWaves.ToTimeSpan());
        Assert.Equal(TimeSpan.FromMinutes(20), s.PhaseDeadlines["prepull-images"].ToTimeSpan());
        Assert.True(s.NoPrepareAhead);
    }

    [Fact]
    public async Task Rollout_help_lists_its_commands()
    {
        var (code, stdout, _) = await Run("rollout");
        Assert.Equal(0, code);
        foreach (var verb in new[] { "start", "status", "list", "history", "describe", "pause", "resume", "abort", "rollback" })
            Assert.Contains(verb, stdout);
    }

    [Fact]
    public async Task Resume_takes_accept_failures_and_no_other_action_does()
    {
        var (code, _, stderr) = await Run("rollout", "resume", "r1", "--accept-failures", "--config", _config, "--coordinator", Nowhere);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: cannot reach the coordinator at {Nowhere}", stderr);
        (code, _, stderr) = await Run("rollout", "pause", "r1", "--accept-failures", "--config", _config, "--coordinator", Nowhere);
        Assert.Equal(1, code);
        Assert.Contains("--accept-failures", stderr);
        Assert.DoesNotContain("cannot reach", stderr);
        var (_, help, _) = await Run("rollout", "start", "--help");
        Assert.Contains("counted from when it entered it", help);
    }

    [Fact]
    public void Budgets_accept_numbers_and_percentages_only() =>
        Assert.Throws<CliException>(() => RolloutCommands.Budget("10 %", "--max-failures"));

    [Theory]
    [InlineData("0")]
    [InlineData("0%")]
    public void A_zero_budget_is_refused_with_the_coordinators_rule(string text)
    {
        var e = Assert.Throws<CliException>(() => RolloutCommands.Budget(text, "--max-unavailable"));
        Assert.Equal($"--max-unavailable '{text}' must be more than 0: with 0 the rollout could never go on (use 1 or more, or a percentage from 1% to 100%)", e.Message);
    }
}
