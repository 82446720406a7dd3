using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;
using static NodeFleet.Tests.Cli.CliSamples;

namespace NodeFleet.Tests.Cli;

public class NodeDescribeViewTests
{
    private static string Section(string view)
    {
        var start = view.IndexOf("Plan runs:", StringComparison.Ordinal);
        var end = view.IndexOf("Events:", StringComparison.Ordinal);
        return view[start..end];
    }

    [Fact]
    public void A_failed_run_shows_its_error_steps_and_the_failed_steps_output_tail()
    {
        var view = NodeDescribeView.Render(Description(FailedRun(), SucceededRun()), Now);
        Assert.Equal("""
            Plan runs:
              upgrade-1.31 generation 3  FAILED  started 2030-01-01T11:50:00Z (10m ago)  duration 1m5s
                error: error execution phase kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc
                PHASE               STEP           STATE       DURATION   RESULT
                preflight           checks         Succeeded   1s         all checks passed
                containerd-config   write-config   Undone      1s         applied (changed)
                kubelet-config      write-dropin   Failed      1m2s       verification failed: kubelet rejected --max-pods=abc
                Failed step kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc
                    | E0101 11:51:04 invalid value "abc" for flag --max-pods
                    | Usage of kubelet:
              upgrade-1.31 generation 2  SUCCEEDED  started 2029-12-31T12:00:00Z (1d ago)  duration 42s
                PHASE               STEP           STATE       DURATION   RESULT
                preflight           checks         Succeeded   100ms      passed with warnings: [KernelModule-overlay] kernel module overlay does not see…
                containerd-config   write-config   Succeeded   20ms       /etc/containerd/config.toml is up to date

            """, Section(view));
    }

    [Fact]
    public void A_prepare_run_is_shown_prepared_never_succeeded()
    {
        var prepared = SucceededRun();
        prepared.Generation = 3;
        prepared.Stage = "prepare";
        prepared.RolloutId = "upgrade-1.31-20300101-114000-ab12";
        var failed = FailedRun();
        failed.Stage = "prepare";
        var running = new RunHistory { RunId = "r", PlanName = "p", Generation = 1, State = RunState.Running, StartedAt = SecondsAgo(75), Stage = "prepare" };
        var applied = SucceededRun();
        applied.Stage = "apply";

        Assert.StartsWith("""
            upgrade-1.31 generation 3  PREPARED  started 2029-12-31T12:00:00Z (1d ago)  duration 42s
              prepare only: the other phases of the plan run in the node's wave of rollout upgrade-1.31-20300101-114000-ab12
              PHASE

            """.TrimEnd('\n'), PlanRunViews.Run(prepared, Now));
        Assert.StartsWith("upgrade-1.31 generation 3  FAILED (prepare)  started", PlanRunViews.Run(failed, Now));
        Assert.StartsWith("p generation 1  PREPARING  started", PlanRunViews.Run(running, Now));
        Assert.StartsWith("upgrade-1.31 generation 2  SUCCEEDED  started 2029-12-31T12:00:00Z (1d ago)  duration 42s\n  PHASE",
            PlanRunViews.Run(applied, Now));
    }

    [Fact]
    public void Runs_come_after_the_facts_and_before_the_events()
    {
        var view = NodeDescribeView.Render(Description(FailedRun()), Now);
        var facts = view.IndexOf("  Agent version:", StringComparison.Ordinal);
        var runs = view.IndexOf("Plan runs:\n", StringComparison.Ordinal);
        var events = view.IndexOf("Events:\n", StringComparison.Ordinal);
        Assert.True(facts >= 0 && facts < runs && runs < events, view);
        Assert.Contains("Phase:               kubelet-config (failed)\n", view);
    }

    [Fact]
    public void No_runs_is_one_aligned_none_line()
    {
        var d = Description();
        d.Events.Clear();
        var view = NodeDescribeView.Render(d, Now);
        Assert.EndsWith("  Agent version:     <none>\nPlan runs:           <none>\nEvents:              <none>\n", view);
    }

    [Fact]
    public void At_most_five_runs_are_shown()
    {
        var runs = Enumerable.Range(1, 7).Select(g =>
        {
            var r = SucceededRun();
            r.Generation = 8 - g;
            return r;
        }).ToArray();
        var view = NodeDescribeView.Render(Description(runs), Now);
        Assert.Contains("upgrade-1.31 generation 7  SUCCEEDED", view);
        Assert.Contains("upgrade-1.31 generation 3  SUCCEEDED", view);
        Assert.DoesNotContain("generation 2 ", view);
    }

    [Fact]
    public void A_running_run_shows_its_time_so_far_and_unfinished_steps_without_duration()
    {
        var run = new RunHistory
        {
            RunId = "r", PlanName = "p", Generation = 1, State = RunState.Running, StartedAt = SecondsAgo(75),
            Steps =
            {
                Step("preflight", "checks", StepState.Succeeded, 75, 74, "all checks passed"),
                Step("prepull-images", "pull", StepState.Running, 74, null),
            },
        };
        Assert.Equal("""
            p generation 1  RUNNING  started 2030-01-01T11:58:45Z (1m15s ago)  duration 1m15s so far
              PHASE            STEP     STATE       DURATION   RESULT
              preflight        checks   Succeeded   1s         all checks passed
              prepull-images   pull     Running     -          -

            """, PlanRunViews.Run(run, Now));
    }

    [Fact]
    public void A_multi_line_failure_keeps_its_lines_indented()
    {
        var step = Step("preflight", "checks", StepState.Failed, 3, 2,
            "error execution phase preflight/checks: preflight found errors:\n\t[ERROR Swap]: swap is on\nignore with --ignore-preflight-errors=Swap",
            outputTail: "[ERROR Swap]: swap is on\n[WARNING KernelModule-overlay]: not loaded");
        Assert.Equal("""
            Failed step preflight/checks: preflight found errors:
                [ERROR Swap]: swap is on
                ignore with --ignore-preflight-errors=Swap
                | [WARNING KernelModule-overlay]: not loaded

            """, PlanRunViews.FailedStep(step));
        Assert.Equal("preflight found errors: [ERROR Swap]: swap is on ignore with --ignore-preflight…", PlanRunViews.Result(step));
    }

    [Theory]
    [InlineData("", false, "-")]
    [InlineData("", true, "(changed)")]
    [InlineData("applied", true, "applied (changed)")]
    [InlineData("/etc/containerd/config.toml is up to date", false, "/etc/containerd/config.toml is up to date")]
    public void Result_is_the_message_and_whether_it_changed_the_node(string message, bool changed, string expected) =>
        Assert.Equal(expected, PlanRunViews.Result(new StepHistory { Phase = "p", Step = "s", Message = message, Changed = changed }));

    [Fact]
    public void Result_is_cut_to_eighty_characters()
    {
        var result = PlanRunViews.Result(new StepHistory { Message = new string('x', 200) });
        Assert.Equal(PlanRunViews.ResultWidth, result.Length);
        Assert.EndsWith("x…", result);
    }

    [Fact]
    public void Nodes_list_shows_the_phase_as_the_coordinator_sent_it()
    {
        var node = Description().Node;
        var table = NodeViews.List([node, new Node { Name = "worker-2" }], Now, wide: false).Render();
        var lines = table.Split('\n');
        Assert.StartsWith("NAME       STATUS    PHASE                     K8S VERSION", lines[0]);
        Assert.StartsWith("worker-1   Online    kubelet-config (failed)   -", lines[1]);
        Assert.StartsWith("worker-2   Unknown   -                         -", lines[2]);
    }

    [Fact]
    public void Event_messages_with_newlines_and_tabs_stay_on_one_line()
    {
        var d = Description();
        d.Events[0].Message = "preflight found errors:\n\t[ERROR Swap]: swap is on";
        var view = NodeDescribeView.Render(d, Now);
        Assert.EndsWith("Warning   PlanFailed   preflight found errors:\\n\\t[ERROR Swap]: swap is on\n", view);
    }
}
