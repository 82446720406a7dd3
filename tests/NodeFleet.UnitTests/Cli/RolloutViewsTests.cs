using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using NodeFleet.Cli;
using NodeFleet.Cli.Commands;
using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;
using static NodeFleet.Tests.Cli.RolloutSamples;

namespace NodeFleet.Tests.Cli;

public class RolloutViewsTests
{
    private static readonly DateTimeOffset Now = CliSamples.Now;

    [Fact]
    public void A_dry_run_shows_the_budgets_resolved_then_the_waves_in_order()
    {
        Assert.Equal("""
            dry run: plan upgrade-1.31 on 10 nodes in 4 waves; canary 1, max unavailable 3 (30%), max failures 1
            prepare: preflight, stage-artifacts, prepull-images on every node first, 50 at a time
            wave 0 (canary): w01
            wave 1: w02, w03, w04
            wave 2: w05, w06, w07
            wave 3: w08, w09, w10

            """, RolloutViews.DryRun(DryRun()));
    }

    [Fact]
    public void A_dry_run_without_canary_or_prepare_and_with_a_pause()
    {
        var r = DryRun();
        r.Strategy.Canary = 0;
        r.Strategy.NoPrepareAhead = true;
        r.Strategy.MaxUnavailable = "5";
        r.MaxUnavailable = 5;
        r.Strategy.PauseBetweenWaves = Duration.FromTimeSpan(TimeSpan.FromMinutes(5));
        r.WaveCount = 2;
        for (var i = 0; i < r.Nodes.Count; i++) r.Nodes[i].Wave = i / 5;
        Assert.Equal("""
            dry run: plan upgrade-1.31 on 10 nodes in 2 waves; canary 0, max unavailable 5, max failures 1, 5m pause between waves
            wave 0: w01, w02, w03, w04, w05
            wave 1: w06, w07, w08, w09, w10

            """, RolloutViews.DryRun(r));
    }

    [Fact]
    public void A_dry_run_that_selects_no_node_says_so()
    {
        var r = DryRun();
        r.Nodes.Clear();
        r.WaveCount = 0;
        r.MaxUnavailable = 1;
        Assert.Equal("""
            dry run: plan upgrade-1.31 on 0 nodes in 0 waves; canary 1, max unavailable 1 (30%), max failures 1
            no node matches the selector 'role=worker'

            """, RolloutViews.DryRun(r));
    }

    [Fact]
    public void Started_names_the_rollout_and_how_to_watch_it()
    {
        var r = Rolling();
        Assert.Equal($"rollout {Id} started: plan upgrade-1.31 generation 3 on 10 nodes in 4 waves", RolloutViews.Started(r));
        Assert.Equal($"watch it with: nodefleet rollout status {Id} -w", RolloutViews.WatchHint(r.Id));
        var canary = r.Nodes[0];
        r.Nodes.Clear();
        r.Nodes.Add(canary);
        r.WaveCount = 1;
        Assert.EndsWith("on 1 node in 1 wave", RolloutViews.Started(r));
    }

    [Fact]
    public void Status_shows_the_header_the_counts_the_phases_of_running_nodes_and_the_failed_nodes()
    {
        Assert.Equal("""
            Rollout:          upgrade-1.31-20300101-114000-ab12
            Plan:             upgrade-1.31 generation 3
            State:            ROLLING: wave 0 (canary)
            Wave:             2/4 (at wave 2)
            Failures:         1/2
            Max unavailable:  3 (30%)
            ETA:              6m
            Age:              20m
            Nodes:            3 succeeded, 3 running, 3 pending, 1 failed
            Running:          prepull-images 2, kubelet-config 1
            In flight:
              NODE   STATE     PHASE            IN PHASE
              w05    running   prepull-images   1m3s
              w06    running   prepull-images   40s
              w07    running   kubelet-config   5s
            Failed nodes:
              w03 (wave 1): kubelet-config/write-dropin: kubelet rejected --max-pods=abc

            """, RolloutViews.Status(Rolling(), Now));
    }

    // Status used to say "Running: stage-artifacts 1" and no more: not which node, nor for how long.
    [Fact]
    public void Status_lists_at_most_ten_nodes_in_flight_longest_in_phase_first_with_the_offline_ones()
    {
        var r = DryRun();
        r.State = RolloutState.Preparing;
        for (var i = 0; i < 10; i++)
        {
            r.Nodes[i].State = RolloutNodeState.Preparing;
            r.Nodes[i].Phase = i == 0 ? "" : "stage-artifacts";
            r.Nodes[i].PhaseStartedAt = CliSamples.SecondsAgo(100 - i);
        }
        r.Nodes.Add(Node("w11", 3, RolloutNodeState.Preparing, "", phaseSecondsAgo: 1));
        r.Nodes.Add(Node("w12", 3, RolloutNodeState.Preparing, "preflight", phaseSecondsAgo: 2));
        r.Nodes[3].OfflineSince = CliSamples.SecondsAgo(20);
        var text = RolloutViews.Status(r, Now);
        Assert.Contains("""
            In flight:
              NODE   STATE       PHASE             IN PHASE   OFFLINE
              w01    preparing   starting          1m40s      -
              w02    preparing   stage-artifacts   1m39s      -
              w03    preparing   stage-artifacts   1m38s      -
              w04    preparing   stage-artifacts   1m37s      20s
              w05    preparing   stage-artifacts   1m36s      -
              w06    preparing   stage-artifacts   1m35s      -
              w07    preparing   stage-artifacts   1m34s      -
              w08    preparing   stage-artifacts   1m33s      -
              w09    preparing   stage-artifacts   1m32s      -
              w10    preparing   stage-artifacts   1m31s      -
              and 2 more

            """, text);
        Assert.DoesNotContain("w11    ", text);
    }

    [Fact]
    public void A_node_in_a_cluster_shows_its_step_its_blocked_drain_and_why_a_node_is_left_cordoned()
    {
        var r = Rolling();
        var w07 = r.Nodes.Single(n => n.Name == "w07");
        (w07.Cluster, w07.KubeStep, w07.DrainBlocked) = ("prod", "drain", "pod default/db-0, budget db-pdb: The disruption budget db-pdb needs 1 healthy pods and has 1 currently");
        var w01 = r.Nodes.Single(n => n.Name == "w01");
        (w01.Cluster, w01.KubeStep, w01.CordonNote) = ("prod", "done", "left cordoned: it was cordoned before NodeFleet cordoned it; left cordoned");
        var text = RolloutViews.Status(r, Now);
        Assert.Matches(@"\n  w07 +running +drain +[0-9]", text);
        Assert.Contains("""
            Drain blocked:
              w07: pod default/db-0, budget db-pdb: The disruption budget db-pdb needs 1 healthy pods and has 1 currently
            Left cordoned:
              w01: left cordoned: it was cordoned before NodeFleet cordoned it; left cordoned

            """, text);
    }

    [Fact]
    public void In_flight_times_come_from_the_start_of_the_node_when_the_coordinator_gives_no_phase_start()
    {
        var r = Rolling();
        foreach (var n in r.Nodes) n.PhaseStartedAt = null;
        Assert.Contains("  w07    running   kubelet-config   1m5s\n", RolloutViews.Status(r, Now));
    }

    [Fact]
    public void Status_says_when_the_rollout_waits_between_waves_and_until_when()
    {
        var r = Rolling();
        r.Strategy.PauseBetweenWaves = Duration.FromTimeSpan(TimeSpan.FromMinutes(5));
        r.NextWaveAt = CliSamples.Ago(TimeSpan.FromSeconds(-200));
        var text = RolloutViews.Status(r, Now);
        Assert.Contains("""
            Wave:             2/4 (at wave 2)
            Waiting:          5m between waves: wave 3 starts at 2030-01-01T12:03:20Z (in 3m20s)
            Failures:         1/2

            """, text);
        r.State = RolloutState.Paused;
        Assert.DoesNotContain("Waiting", RolloutViews.Status(r, Now));
    }

    [Fact]
    public void Failures_the_operator_accepted_are_shown_apart_from_those_counted_against_the_budget()
    {
        var r = Rolling();
        r.MaxFailures = 1;
        r.Failures = 2;
        r.AcceptedFailures = 2;
        Assert.Equal("0/1 counted, 2 accepted", RolloutViews.Failures(r));
        r.AcceptedFailures = 0;
        Assert.Equal("2/1", RolloutViews.Failures(r));
    }

    [Fact]
    public void Whether_failures_hold_a_paused_rollout_is_shown_as_the_coordinator_decided_it()
    {
        var r = Rolling();
        r.State = RolloutState.Paused;
        r.StateReason = "paused by the operator";
        Assert.EndsWith($"Paused: `nodefleet rollout resume {Id}` goes on, `abort` stops it, `rollback` undoes it.\n", RolloutViews.Status(r, Now));
        Assert.Contains($"  waiting for the operator: nodefleet rollout resume|abort|rollback {Id}\n", new RolloutLog().Observe(r));
        // Nothing in the nodes changed: the flag alone, set by the coordinator, changes what the operator is told.
        r.HeldByFailures = true;
        Assert.EndsWith($"Paused by its failures: fix their cause, then `nodefleet rollout resume {Id} --accept-failures` goes on past the " +
            "failed nodes (they stay failed), `abort` stops it, `rollback` undoes it.\n", RolloutViews.Status(r, Now));
    }

    [Fact]
    public void A_dry_run_document_has_no_id_generation_or_times_and_says_it_is_a_dry_run()
    {
        var answer = DryRun();
        answer.DryRun = true;
        answer.Id = "";
        answer.CreatedAt = null;
        answer.UpdatedAt = null;
        var doc = RolloutCommands.DryRunDocument(answer);
        Assert.True(doc["dryRun"]!.GetValue<bool>());
        foreach (var key in new[] { "id", "generation", "createdAt", "updatedAt" }) Assert.False(doc.ContainsKey(key), key);
        Assert.Equal(10, doc["nodes"]!.AsArray().Count);
        // Also from a coordinator that still fills them in.
        doc = RolloutCommands.DryRunDocument(DryRun());
        Assert.False(doc.ContainsKey("id"));
        Assert.True(doc["dryRun"]!.GetValue<bool>());
    }

    [Fact]
    public void Status_of_a_paused_rollout_gives_the_reason_and_what_the_operator_can_do()
    {
        var r = Rolling();
        r.State = RolloutState.Paused;
        r.StateReason = "error budget spent: 2 failure(s), max 2";
        r.Eta = null;
        r.Nodes[4].State = RolloutNodeState.Failed;
        r.Nodes[4].Message = "pull registry.k8s.io/pause:3.10: timeout\nafter 3 tries";
        r.Failures = 2;
        var text = RolloutViews.Status(r, Now);
        Assert.Contains("State:            PAUSED: error budget spent: 2 failure(s), max 2\n", text);
        Assert.DoesNotContain("ETA", text);
        Assert.Contains("Nodes:            3 succeeded, 2 running, 3 pending, 2 failed\n", text);
        Assert.Contains("Running:          prepull-images 1, kubelet-config 1\n", text);
        // The phase the node failed in when its message does not say; further lines of the message indented.
        Assert.Contains("""
            Failed nodes:
              w03 (wave 1): kubelet-config/write-dropin: kubelet rejected --max-pods=abc
              w05 (wave 2): prepull-images: pull registry.k8s.io/pause:3.10: timeout
                  after 3 tries

            """, text);
        r.HeldByFailures = true;
        text = RolloutViews.Status(r, Now);
        Assert.EndsWith($"Paused by its failures: fix their cause, then `nodefleet rollout resume {Id} --accept-failures` goes on past the " +
            "failed nodes (they stay failed), `abort` stops it, `rollback` undoes it.\n", text);
    }

    [Fact]
    public void Status_before_the_waves_shows_preparing_nodes_per_phase_and_no_failed_section()
    {
        var r = DryRun();
        r.State = RolloutState.Preparing;
        r.Nodes[0].State = RolloutNodeState.Prepared;
        r.Nodes[1].State = RolloutNodeState.Preparing;
        r.Nodes[1].Phase = "prepull-images";
        r.Nodes[2].State = RolloutNodeState.Preparing;
        var text = RolloutViews.Status(r, Now);
        Assert.Contains("Wave:             0/4 (not started)\n", text);
        Assert.Contains("Nodes:            0 succeeded, 0 running, 2 preparing, 1 prepared, 7 pending, 0 failed\n", text);
        Assert.Contains("Preparing:        starting 1, prepull-images 1\n", text);
        Assert.DoesNotContain("Failed nodes", text);
    }

    [Fact]
    public void The_wave_cell_counts_waves_done()
    {
        var r = Rolling();
        Assert.Equal("2/4", RolloutViews.Wave(r));
        r.State = RolloutState.Succeeded;
        r.CurrentWave = 3;
        Assert.Equal("4/4", RolloutViews.Wave(r));
        r.State = RolloutState.Pending;
        r.CurrentWave = -1;
        Assert.Equal("0/4", RolloutViews.Wave(r));
    }

    [Fact]
    public void Describe_adds_the_strategy_and_every_node_with_its_duration()
    {
        var r = Rolling();
        r.Strategy.PhaseDeadlines["verify"] = Duration.FromTimeSpan(TimeSpan.FromMinutes(2));
        r.Strategy.PhaseDeadlines["prepull-images"] = Duration.FromTimeSpan(TimeSpan.FromMinutes(20));
        Assert.Equal("""
            Rollout:              upgrade-1.31-20300101-114000-ab12
            Plan:                 upgrade-1.31 generation 3
            State:                ROLLING: wave 0 (canary)
            Wave:                 2/4 (at wave 2)
            Failures:             1/2
            Max unavailable:      3 (30%)
            ETA:                  6m
            Age:                  20m
            Selector:             role=worker
            Canary:               1 node
            Pause between waves:  <none>
            Phase deadlines:      prepull-images=20m, verify=2m
            Prepare ahead:        yes, 50 nodes at a time
            Gates:                <none>
            Created:              2030-01-01T11:40:00Z (20m ago)
            Updated:              2030-01-01T11:59:57Z (3s ago)
            Nodes:                3 succeeded, 3 running, 3 pending, 1 failed
            Running:              prepull-images 2, kubelet-config 1
            Nodes by wave:
              NAME   WAVE   STATE       PHASE            DURATION      MESSAGE
              w01    0      Succeeded   -                1m40s         -
              w02    1      Succeeded   -                1m40s         -
              w03    1      Failed      kubelet-config   3m20s         kubelet-config/write-dropin: kubelet rejected --max-pods=abc
              w04    1      Succeeded   -                1m50s         -
              w05    2      Running     prepull-images   1m so far     -
              w06    2      Running     prepull-images   1m so far     -
              w07    2      Running     kubelet-config   1m5s so far   -
              w08    3      Pending     -                -             -
              w09    3      Pending     -                -             -
              w10    3      Pending     -                -             -
            Failed nodes:
              w03 (wave 1): kubelet-config/write-dropin: kubelet rejected --max-pods=abc

            """, RolloutViews.Describe(r, Now));
    }

    [Fact]
    public void Describe_cuts_a_long_message_in_the_table_and_gives_it_whole_below()
    {
        var r = Rolling();
        r.Nodes[2].Phase = "preflight";
        r.Nodes[2].Message = "error execution phase preflight/checks: preflight found errors:\n" +
            "\t[ERROR Swap]: swap is on; the kubelet needs it off (swapoff -a) unless configured for swap\n" +
            "ignore with --ignore-preflight-errors=Swap";
        var text = RolloutViews.Describe(r, Now);
        Assert.Contains("  w03    1      Failed      preflight        3m20s         preflight/checks: preflight found errors:\n", text);
        Assert.Contains("""
            Failed nodes:
              w03 (wave 1): preflight/checks: preflight found errors:
                  [ERROR Swap]: swap is on; the kubelet needs it off (swapoff -a) unless configured for swap
                  ignore with --ignore-preflight-errors=Swap

            """, text);
    }

    [Fact]
    public void The_list_table_is_newest_first_with_nodes_done_failures_and_waves()
    {
        var old = Rolling();
        old.Id = "upgrade-1.30-20291231-090000-cd34";
        old.PlanName = "upgrade-1.30";
        old.State = RolloutState.Succeeded;
        old.StateReason = "10 node(s) updated";
        old.CurrentWave = 3;
        old.Failures = 0;
        old.CreatedAt = CliSamples.Ago(TimeSpan.FromHours(27));
        foreach (var n in old.Nodes) n.State = RolloutNodeState.Succeeded;
        Assert.Equal("""
            ID                                  PLAN           STATE       NODES   FAILED   WAVE   AGE
            upgrade-1.31-20300101-114000-ab12   upgrade-1.31   ROLLING     3/10    1        2/4    20m
            upgrade-1.30-20291231-090000-cd34   upgrade-1.30   SUCCEEDED   10/10   0        4/4    1d3h

            """, RolloutViews.List([old, Rolling()], Now).Render());
    }

    [Fact]
    public void Actions_print_the_resulting_state()
    {
        var r = Rolling();
        r.State = RolloutState.Paused;
        r.StateReason = "paused by the operator";
        Assert.Equal($"rollout {Id} paused; state PAUSED: paused by the operator", RolloutViews.Acted(r, "paused"));
    }

    /// <summary>The rollout after <paramref name="change"/>, as the next poll would see it.</summary>
    private static Rollout Next(Rollout r, Action<Rollout> change)
    {
        var next = r.Clone();
        change(next);
        return next;
    }

    [Fact]
    public void The_log_prints_what_changed_between_polls_causes_first()
    {
        var log = new RolloutLog();
        var r0 = Rolling();
        Assert.Equal($"""
            rollout {Id}: plan upgrade-1.31 generation 3 on 10 nodes in 4 waves
            state ROLLING: wave 0 (canary)
            wave 2 of 0-3 started
            nodes: 3 succeeded, 3 running, 3 pending, 1 failed
            node w03 (wave 1): failed: kubelet-config/write-dropin: kubelet rejected --max-pods=abc
            node w05 (wave 2): running prepull-images
            node w06 (wave 2): running prepull-images
            node w07 (wave 2): running kubelet-config

            """, log.Observe(r0));
        Assert.Equal("", log.Observe(r0.Clone()));

        var r1 = Next(r0, r =>
        {
            r.Nodes[4].State = RolloutNodeState.Succeeded;
            r.Nodes[4].Phase = "";
            r.Nodes[4].FinishedAt = CliSamples.SecondsAgo(0);
            r.Nodes[5].Phase = "kubelet-config";
        });
        Assert.Equal("""
            node w05 (wave 2): succeeded in 1m
            node w06 (wave 2): running kubelet-config

            """, log.Observe(r1));

        var r2 = Next(r1, r =>
        {
            r.Nodes[6].State = RolloutNodeState.Failed;
            r.Nodes[6].Message = "kubelet did not become healthy\nwithin 2m";
            r.Failures = 2;
            r.State = RolloutState.Paused;
            r.HeldByFailures = true;
            r.StateReason = "error budget spent: 2 failure(s), max 2";
        });
        Assert.Equal($"""
            node w07 (wave 2): failed: kubelet-config: kubelet did not become healthy
                within 2m
            state PAUSED: error budget spent: 2 failure(s), max 2
              held by its failures: nodefleet rollout resume {Id} --accept-failures goes on past them; or abort|rollback it

            """, log.Observe(r2));

        var r3 = Next(r2, r =>
        {
            r.Nodes[5].State = RolloutNodeState.Succeeded;
            r.Nodes[5].Phase = "";
            r.State = RolloutState.Rolling;
            r.StateReason = "resumed by the operator";
            r.CurrentWave = 3;
            r.Nodes[7].State = RolloutNodeState.Running;
        });
        Assert.Equal("""
            node w06 (wave 2): succeeded
            state ROLLING: resumed by the operator
            wave 3 of 0-3 started
            node w08 (wave 3): running

            """, log.Observe(r3));
    }

    [Fact]
    public void The_log_says_when_the_rollout_starts_waiting_between_waves()
    {
        var log = new RolloutLog();
        var r0 = Rolling();
        r0.Strategy.PauseBetweenWaves = Duration.FromTimeSpan(TimeSpan.FromMinutes(5));
        log.Observe(r0);
        var r1 = Next(r0, r => r.NextWaveAt = CliSamples.Ago(TimeSpan.FromMinutes(-5)));
        Assert.Equal("waiting 5m between waves: wave 3 starts at 2030-01-01T12:05:00Z\n", log.Observe(r1));
        Assert.Equal("", log.Observe(r1.Clone()));
        Assert.Contains("wave 2 of 0-3 started\nwaiting 5m between waves: wave 3 starts at 2030-01-01T12:05:00Z\nnodes:", new RolloutLog().Observe(r1));
    }

    [Fact]
    public async Task Watch_follows_a_paused_rollout_until_it_succeeds_and_exits_0()
    {
        var paused = Rolling();
        paused.State = RolloutState.Paused;
        paused.StateReason = "paused by the operator";
        var done = Next(paused, r =>
        {
            r.State = RolloutState.Succeeded;
            r.Final = true;
            r.StateReason = "10 node(s) updated";
            foreach (var n in r.Nodes) n.State = RolloutNodeState.Succeeded;
        });
        var (code, output, error, polls) = await Watch(paused, paused, Unavailable(), Unavailable(), done);
        Assert.Equal(0, code);
        Assert.Equal(5, polls);
        Assert.Contains("state PAUSED: paused by the operator\n", output);
        Assert.EndsWith($"state SUCCEEDED: 10 node(s) updated\nrollout {Id} succeeded: 10 node(s) updated\n", output);
        // Two polls that could not reach the coordinator: one warning.
        Assert.Equal("warning: cannot reach the coordinator at x: refused; still watching\n", error);
    }

    [Fact]
    public async Task Watch_of_a_rolled_back_rollout_exits_0_and_of_a_failed_or_aborted_one_fails()
    {
        var r = Rolling();
        r.State = RolloutState.RolledBack;
        r.Final = true;
        r.StateReason = "the plan is undone on every node that applied it";
        Assert.Equal(0, (await Watch(r)).Code);

        r.State = RolloutState.Failed;
        r.StateReason = "2 node(s) failed";
        var e = await Assert.ThrowsAsync<CliException>(() => Watch(r));
        Assert.Equal($"rollout {Id} failed: 2 node(s) failed (see `nodefleet rollout describe {Id}`)", e.Message);

        r.State = RolloutState.Aborted;
        r.StateReason = "aborted by the operator";
        e = await Assert.ThrowsAsync<CliException>(() => Watch(r));
        Assert.Equal($"rollout {Id} was aborted: aborted by the operator", e.Message);
    }

    [Fact]
    public async Task Watch_on_a_terminal_redraws_the_whole_status_each_poll()
    {
        var r = Rolling();
        var done = Next(r, x => (x.State, x.Final) = (RolloutState.Succeeded, true));
        var (_, output, _, _) = await Watch(true, r, done);
        var frames = output.Split(RolloutCommands.ClearScreen, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, frames.Length);
        Assert.Equal(RolloutViews.Status(r, Now), frames[0]);
        Assert.StartsWith("Rollout:", frames[1]);
    }

    private static CliException Unavailable() => new("cannot reach the coordinator at x: refused", StatusCode.Unavailable);

    private static Task<(int Code, string Out, string Err, int Polls)> Watch(params object[] answers) => Watch(false, answers);

    /// <summary>Runs the watch against <paramref name="answers"/> in turn (a rollout, or an exception to throw).</summary>
    private static async Task<(int Code, string Out, string Err, int Polls)> Watch(bool redraw, params object[] answers)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var polls = 0;
        Task<Rollout> Get(CancellationToken _)
        {
            var answer = answers[Math.Min(polls++, answers.Length - 1)];
            return answer is Exception e ? Task.FromException<Rollout>(e) : Task.FromResult((Rollout)answer);
        }
        var code = await RolloutCommands.WatchAsync(Get, redraw, new FixedTime(Now), (_, _) => Task.CompletedTask, output, error,
            CancellationToken.None);
        return (code, output.ToString(), error.ToString(), polls);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
