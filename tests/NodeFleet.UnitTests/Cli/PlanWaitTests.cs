using Grpc.Core;
using NodeFleet.Cli;
using NodeFleet.Cli.Commands;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Cli.CliSamples;

namespace NodeFleet.Tests.Cli;

/// <summary>`plan apply --wait` against scripted DescribeNode answers, on a clock that moves one poll at a time.</summary>
public class PlanWaitTests
{
    private static readonly ApplyPlanResponse Applied = new() { PlanName = "upgrade-1.31", Generation = 3, Digest = "sha256:ab", Node = "worker-1" };

    private sealed class Script(params Func<NodeDescription>[] answers)
    {
        public int Calls { get; private set; }

        public Task<NodeDescription> Describe(CancellationToken _) =>
            Task.FromResult(answers[Math.Min(Calls++, answers.Length - 1)]());
    }

    private static async Task<(int? Code, string Out, string Err, CliException? Error, int Polls)> Wait(
        IEnumerable<RunHistory> before, Script script, TimeSpan? timeout = null)
    {
        var time = new ManualTime(Now.AddSeconds(-30));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var wait = new PlanWait(Applied, before);
        try
        {
            var code = await wait.RunAsync(script.Describe, timeout ?? PlanWait.DefaultTimeout, time,
                (d, _) => { time.Advance(d); return Task.CompletedTask; }, stdout, stderr, CancellationToken.None);
            return (code, stdout.ToString(), stderr.ToString(), null, script.Calls);
        }
        catch (CliException e)
        {
            return (null, stdout.ToString(), stderr.ToString(), e, script.Calls);
        }
    }

    private static NodeDescription With(params RunHistory[] runs)
    {
        var d = new NodeDescription { Node = new Node { Name = "worker-1" } };
        d.Runs.AddRange(runs);
        return d;
    }

    private static RunHistory Run(string id, RunState state, params StepHistory[] steps)
    {
        var r = new RunHistory { RunId = id, PlanName = "upgrade-1.31", Generation = 3, State = state, StartedAt = SecondsAgo(20) };
        if (state is RunState.Succeeded or RunState.Failed or RunState.Undone) r.FinishedAt = SecondsAgo(5);
        r.Steps.AddRange(steps);
        return r;
    }

    private static StepHistory Checks() => Step("preflight", "checks", StepState.Succeeded, 20, 19, "all checks passed");

    [Fact]
    public async Task Prints_each_step_transition_once_and_ends_when_the_run_succeeds()
    {
        var previous = SucceededRun(); // generation 2
        var script = new Script(
            () => With(previous),
            () => With(Run("r3", RunState.Running, Checks(), Step("containerd-config", "write-config", StepState.Running, 19, null)), previous),
            () => With(Run("r3", RunState.Running, Checks(), Step("containerd-config", "write-config", StepState.Running, 19, null)), previous),
            () => With(Run("r3", RunState.Running, Checks(),
                Step("containerd-config", "write-config", StepState.Succeeded, 19, 18.88, "applied", changed: true),
                Step("kubelet-config", "write-dropin", StepState.Succeeded, 18.88, 18.87, "/etc/systemd/system/kubelet.service.d/10-nodefleet.conf is up to date")), previous),
            () => With(Run("r3", RunState.Succeeded, Checks(),
                Step("containerd-config", "write-config", StepState.Succeeded, 19, 18.88, "applied", changed: true),
                Step("kubelet-config", "write-dropin", StepState.Succeeded, 18.88, 18.87, "/etc/systemd/system/kubelet.service.d/10-nodefleet.conf is up to date")), previous));

        var (code, stdout, stderr, error, polls) = await Wait([previous], script);

        Assert.Null(error);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(5, polls);
        Assert.Equal("""
            run r3 started
            [preflight/checks] succeeded in 1s: all checks passed
            [containerd-config/write-config] running
            [containerd-config/write-config] applied in 120ms
            [kubelet-config/write-dropin] succeeded in 10ms: /etc/systemd/system/kubelet.service.d/10-nodefleet.conf is up to date
            plan upgrade-1.31 generation 3 applied on node worker-1 (run r3, 15s)

            """, stdout);
    }

    [Fact]
    public async Task A_failed_run_prints_the_failed_steps_output_tail_and_fails_with_the_run_error()
    {
        var failed = Step("kubelet-config", "write-dropin", StepState.Failed, 19, 17,
            "error execution phase kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc",
            outputTail: "invalid value \"abc\" for flag --max-pods\nUsage of kubelet:");
        var script = new Script(
            () => With(Run("r3", RunState.Running, Checks())),
            () => With(Run("r3", RunState.UndoRunning, Checks(), failed)),
            () =>
            {
                var r = Run("r3", RunState.Failed, Checks(), failed);
                r.Error = "error execution phase kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc";
                return With(r);
            });

        var (code, stdout, _, error, _) = await Wait([], script);

        Assert.Null(code);
        Assert.Equal("""
            run r3 started
            [preflight/checks] succeeded in 1s: all checks passed
            [kubelet-config/write-dropin] failed after 2s: verification failed: kubelet rejected --max-pods=abc
                | invalid value "abc" for flag --max-pods
                | Usage of kubelet:
            undoing the changes of run r3

            """, stdout);
        Assert.Equal("plan upgrade-1.31 generation 3 failed on node worker-1 (run r3): error execution phase kubelet-config/write-dropin: " +
            "verification failed: kubelet rejected --max-pods=abc", error!.Message);
    }

    [Fact]
    public async Task A_failed_run_the_agent_undid_shows_its_undone_steps_and_fails_saying_so()
    {
        const string message = "error execution phase kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc";
        var failed = Step("kubelet-config", "write-dropin", StepState.Failed, 19, 17, message);
        var script = new Script(
            () => With(Run("r3", RunState.Running, Checks(),
                Step("containerd-config", "write-config", StepState.Succeeded, 19, 18.88, "applied", changed: true))),
            () =>
            {
                var r = Run("r3", RunState.Undone, Checks(),
                    Step("containerd-config", "write-config", StepState.Undone, 19, 18.88, "applied", changed: true), failed);
                r.Error = message;
                return With(r);
            });

        var (code, stdout, _, error, _) = await Wait([], script);

        Assert.Null(code);
        // Both came in one answer: the failure first, then the undo it caused.
        Assert.EndsWith("""
            [kubelet-config/write-dropin] failed after 2s: verification failed: kubelet rejected --max-pods=abc
            undoing the changes of run r3
            [containerd-config/write-config] undone

            """, stdout);
        Assert.Equal($"plan upgrade-1.31 generation 3 failed and was undone on node worker-1 (run r3): {message}", error!.Message);
    }

    // A rollout's prepare run of the same generation used to end the wait at once: "plan … is already applied".
    [Fact]
    public async Task A_prepare_run_of_the_same_generation_is_not_taken_for_the_plan_applied()
    {
        var prepared = Run("r-prepare", RunState.Succeeded, Checks());
        prepared.Stage = "prepare";
        prepared.RolloutId = "upgrade-1.31-20300101-114000-ab12";
        var script = new Script(
            () => With(prepared),
            () => With(Run("r-apply", RunState.Running, Checks()), prepared),
            () => With(Run("r-apply", RunState.Succeeded, Checks()), prepared));

        var (code, stdout, _, error, polls) = await Wait([prepared], script);

        Assert.Null(error);
        Assert.Equal(0, code);
        Assert.Equal(3, polls);
        Assert.DoesNotContain("r-prepare", stdout);
        Assert.DoesNotContain("already applied", stdout);
        Assert.EndsWith("applied on node worker-1 (run r-apply, 15s)\n", stdout);
    }

    [Fact]
    public async Task A_run_of_the_same_generation_that_had_failed_before_the_apply_is_not_the_one_waited_for()
    {
        var old = Run("r-old", RunState.Failed, Step("preflight", "checks", StepState.Failed, 20, 19, "preflight found errors"));
        var script = new Script(
            () => With(old),
            () => With(Run("r-new", RunState.Succeeded, Checks()), old));

        var (code, stdout, _, error, polls) = await Wait([old], script);

        Assert.Null(error);
        Assert.Equal(0, code);
        Assert.Equal(2, polls);
        Assert.DoesNotContain("r-old", stdout);
        Assert.EndsWith("applied on node worker-1 (run r-new, 15s)\n", stdout);
    }

    [Fact]
    public async Task A_generation_the_node_had_already_applied_ends_the_wait_at_once()
    {
        var done = Run("r3", RunState.Succeeded, Checks());
        var (code, stdout, _, _, polls) = await Wait([done], new Script(() => With(done)));
        Assert.Equal(0, code);
        Assert.Equal(1, polls);
        Assert.Equal("plan upgrade-1.31 generation 3 is already applied on node worker-1 (run r3)\n", stdout);
    }

    [Fact]
    public async Task Times_out_when_no_run_is_reported()
    {
        var (code, stdout, _, error, polls) = await Wait([], new Script(() => With()), TimeSpan.FromSeconds(3));
        Assert.Null(code);
        Assert.Equal("", stdout);
        Assert.Equal(4, polls); // at 0s, 1s, 2s and 3s
        Assert.Equal("timed out after 3s waiting for plan upgrade-1.31 generation 3 on node worker-1: the node has reported no run of it " +
            "(see the events in `nodefleet node describe worker-1`)", error!.Message);
    }

    [Fact]
    public async Task Times_out_naming_the_step_still_running()
    {
        var running = Run("r3", RunState.Running, Checks(), Step("prepull-images", "pull", StepState.Running, 19, null));
        var (_, _, _, error, _) = await Wait([], new Script(() => With(running)), TimeSpan.FromSeconds(2));
        Assert.Equal("timed out after 2s waiting for plan upgrade-1.31 generation 3 on node worker-1: run r3 is RUNNING at " +
            "prepull-images/pull; it goes on on the node", error!.Message);
    }

    [Fact]
    public async Task A_coordinator_out_of_reach_for_a_while_is_reported_once_and_polled_again()
    {
        var calls = 0;
        var time = new ManualTime(Now);
        var stderr = new StringWriter();
        var stdout = new StringWriter();
        Task<NodeDescription> Describe(CancellationToken _) => ++calls <= 3
            ? throw new CliException("cannot reach the coordinator at 10.0.0.5:7443: Connection refused", StatusCode.Unavailable)
            : Task.FromResult(With(Run("r3", RunState.Succeeded, Checks())));

        var code = await new PlanWait(Applied, []).RunAsync(Describe, TimeSpan.FromMinutes(1), time,
            (d, _) => { time.Advance(d); return Task.CompletedTask; }, stdout, stderr, CancellationToken.None);

        Assert.Equal(0, code);
        Assert.Equal(4, calls);
        Assert.Equal("warning: cannot reach the coordinator at 10.0.0.5:7443: Connection refused; still waiting\n", stderr.ToString());
    }

    [Fact]
    public async Task Other_coordinator_errors_end_the_wait()
    {
        var time = new ManualTime(Now);
        var wait = new PlanWait(Applied, []);
        var e = await Assert.ThrowsAsync<CliException>(() => wait.RunAsync(
            _ => throw new CliException("node worker-1 not found", StatusCode.NotFound), TimeSpan.FromMinutes(1), time,
            (d, _) => { time.Advance(d); return Task.CompletedTask; }, new StringWriter(), new StringWriter(), CancellationToken.None));
        Assert.Equal("node worker-1 not found", e.Message);
    }

    [Fact]
    public async Task Undone_steps_follow_the_failure_last_first_and_the_undo_line_comes_once()
    {
        const string message = "error execution phase restart-services/restart-kubelet: systemctl restart kubelet exited 1";
        StepHistory Write(StepState state) => Step("containerd-config", "write-config", state, 19, 18.75, "applied", changed: true);
        StepHistory DropIn(StepState state) => Step("kubelet-config", "write-dropin", state, 18.75, 18.5, "applied", changed: true);
        var failed = Step("restart-services", "restart-kubelet", StepState.Failed, 18.5, 18, message);
        var script = new Script(
            () => With(Run("r3", RunState.Running, Checks(), Write(StepState.Succeeded), DropIn(StepState.Succeeded))),
            () => With(Run("r3", RunState.UndoRunning, Checks(), Write(StepState.Succeeded), DropIn(StepState.Undone), failed)),
            () =>
            {
                var r = Run("r3", RunState.Undone, Checks(), Write(StepState.Undone), DropIn(StepState.Undone), failed);
                r.Error = message;
                return With(r);
            });

        var (_, stdout, _, error, _) = await Wait([], script);

        Assert.Equal("""
            run r3 started
            [preflight/checks] succeeded in 1s: all checks passed
            [containerd-config/write-config] applied in 250ms
            [kubelet-config/write-dropin] applied in 250ms
            [restart-services/restart-kubelet] failed after 500ms: systemctl restart kubelet exited 1
            undoing the changes of run r3
            [kubelet-config/write-dropin] undone
            [containerd-config/write-config] undone

            """, stdout);
        Assert.EndsWith($"(run r3): {message}", error!.Message);
    }

    [Fact]
    public async Task A_preflight_failure_shows_its_findings_once()
    {
        const string message = "error execution phase preflight/checks: preflight found errors:\n" +
            "\t[ERROR Swap]: swap is on\n\t[ERROR CRI]: no runtime answers\nignore with --ignore-preflight-errors=Swap,CRI";
        var failed = Step("preflight", "checks", StepState.Failed, 20, 19, message,
            outputTail: "[WARNING Disk]: 9% free on /var\n[ERROR Swap]: swap is on\n[ERROR CRI]: no runtime answers");
        var script = new Script(() =>
        {
            var r = Run("r3", RunState.Failed, failed);
            r.Error = message;
            return With(r);
        });

        var (_, stdout, _, error, _) = await Wait([], script);

        Assert.Equal("""
            run r3 started
            [preflight/checks] failed after 1s: preflight found errors:
                [ERROR Swap]: swap is on
                [ERROR CRI]: no runtime answers
                ignore with --ignore-preflight-errors=Swap,CRI
                | [WARNING Disk]: 9% free on /var

            """, stdout);
        Assert.Equal("plan upgrade-1.31 generation 3 failed on node worker-1 (run r3): error execution phase preflight/checks: " +
            "preflight found errors (listed above)", error!.Message);
    }
}
