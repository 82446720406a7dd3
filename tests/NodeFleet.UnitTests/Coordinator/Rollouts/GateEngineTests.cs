using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Rollouts.Gates;
using NodeFleet.Protocol.V1;
using RolloutState = NodeFleet.Coordinator.Rollouts.RolloutState;
using RolloutNodeState = NodeFleet.Coordinator.Rollouts.RolloutNodeState;

namespace NodeFleet.Tests.Coordinator.Rollouts;

/// <summary>The gates as pure decisions of the rollout engine, with observations given by the test.</summary>
public class GateEngineTests
{
    private static readonly DateTime T0 = new(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private sealed class Seen : IGateObservations
    {
        public PrometheusAnswer? Answer;
        public Dictionary<string, bool> Ready = [];
        public Dictionary<string, string> Blockers = [];
        public HashSet<string> Gone = [];
        public bool Offline(string node) => Gone.Contains(node);
        public PrometheusAnswer? Prometheus(string rollout) => Answer;
        public bool? KubeReady(string rollout, string node) => Ready.TryGetValue(node, out var r) ? r : null;
        public string? Blocker(string rollout, string node) => Blockers.GetValueOrDefault(node);
    }

    private static RolloutRecord Rolling(int nodes, int maxUnavailable, RolloutGates gates, string cluster = "")
    {
        var r = new RolloutRecord
        {
            Id = "r1", PlanName = "p", Canary = 0, MaxUnavailable = maxUnavailable, MaxFailures = 1, PrepareConcurrency = 50,
            State = RolloutState.Pending, CreatedAt = T0, UpdatedAt = T0, Gates = gates,
        };
        RolloutEngine.PlanWaves(r, Enumerable.Range(1, nodes).Select(i => $"n{i}"));
        foreach (var n in r.Nodes) n.Cluster = cluster;
        return r;
    }

    /// <summary>Marks the current wave's nodes succeeded (as their runs report).</summary>
    private static void FinishWave(RolloutRecord r)
    {
        foreach (var n in r.Nodes.Where(n => n.Wave == r.CurrentWave)) n.State = RolloutNodeState.Succeeded;
    }

    private static List<RolloutNote> Decide(RolloutRecord r, IGateObservations seen, DateTime at, Func<string, bool>? online = null) =>
        RolloutEngine.Decide(r, online ?? (_ => true), at, seen).Notes;

    [Fact]
    public void A_soak_holds_the_next_wave_for_its_length_then_lets_it_start()
    {
        var r = Rolling(2, 1, new RolloutGates { SoakMs = 300_000 });
        var seen = new Seen();
        Decide(r, seen, T0);
        FinishWave(r);
        var notes = Decide(r, seen, T0.AddSeconds(1));
        Assert.Contains(notes, n => n.Reason == "GatesChecking");
        Assert.Equal(T0.AddSeconds(1), r.Gates.SoakStartedAt);
        Decide(r, seen, T0.AddMinutes(4));
        Assert.Equal(0, r.CurrentWave);
        Assert.Equal("soaking: 3m59s of 5m", r.Gates.StatusOf(GateEngine.Soak).Message);
        notes = Decide(r, seen, T0.AddMinutes(5).AddSeconds(1));
        Assert.Contains(notes, n => n.Reason == "GatesPassed");
        Assert.Equal(1, r.CurrentWave);
        Assert.Equal(GateStatus.PassedState, r.Gates.StatusOf(GateEngine.Soak).State);
    }

    [Fact]
    public void A_node_turning_NotReady_during_the_soak_pauses_the_rollout_naming_it_and_a_resume_soaks_again()
    {
        var r = Rolling(3, 2, new RolloutGates { SoakMs = 60_000 }, cluster: "prod");
        var seen = new Seen();
        Decide(r, seen, T0);
        FinishWave(r);
        seen.Ready["n1"] = true;
        seen.Ready["n2"] = true;
        Decide(r, seen, T0.AddSeconds(1));
        seen.Ready["n2"] = false;
        var notes = Decide(r, seen, T0.AddSeconds(30));
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Equal("soak gate: node n2 turned unhealthy (NotReady in cluster prod) after 29s of the 1m soak of wave 0", r.StateReason);
        Assert.Contains(notes, n => n.Reason == "GateFailed" && n.Node == "n2");
        Assert.Equal("", r.Gates.PausedBy); // the operator resumes it, not the gate

        // Resumed once the node is back: the soak starts over.
        seen.Ready["n2"] = true;
        RolloutEngine.Transition(r, RolloutState.Rolling, "resumed", T0.AddMinutes(2));
        Decide(r, seen, T0.AddMinutes(2));
        Assert.Equal(T0.AddMinutes(2), r.Gates.SoakStartedAt);
        Decide(r, seen, T0.AddMinutes(2).AddSeconds(59));
        Assert.Equal(0, r.CurrentWave);
        Decide(r, seen, T0.AddMinutes(3).AddSeconds(1));
        Assert.Equal(1, r.CurrentWave);
    }

    [Fact]
    public void An_offline_node_breaks_the_soak_too()
    {
        var r = Rolling(2, 1, new RolloutGates { SoakMs = 60_000 });
        var seen = new Seen();
        Decide(r, seen, T0);
        FinishWave(r);
        Decide(r, seen, T0.AddSeconds(1));
        seen.Gone.Add("n1");
        Decide(r, seen, T0.AddSeconds(5));
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Contains("node n1 turned unhealthy (offline)", r.StateReason);
    }

    [Fact]
    public void A_soak_in_progress_survives_a_reload_of_the_record()
    {
        var r = Rolling(2, 1, new RolloutGates { SoakMs = 60_000 });
        var seen = new Seen();
        Decide(r, seen, T0);
        FinishWave(r);
        Decide(r, seen, T0.AddSeconds(1));
        // What a restarted coordinator reads back: the same gate fields (the soak's start among them).
        var json = System.Text.Json.JsonSerializer.Serialize(r.Gates);
        r.Gates = System.Text.Json.JsonSerializer.Deserialize<RolloutGates>(json)!;
        Decide(r, seen, T0.AddSeconds(40));
        Assert.Equal(0, r.CurrentWave);
        Decide(r, seen, T0.AddSeconds(62));
        Assert.Equal(1, r.CurrentWave);
    }

    [Fact]
    public void A_firing_alert_pauses_the_rollout_with_its_labels_and_it_goes_on_once_an_answer_has_no_series()
    {
        var r = Rolling(2, 1, new RolloutGates { PrometheusUrl = "http://prom:9090", PrometheusQuery = "ALERTS" });
        var seen = new Seen();
        Decide(r, seen, T0);
        FinishWave(r);
        // An answer older than the check does not count.
        seen.Answer = new PrometheusAnswer(T0, []);
        Decide(r, seen, T0.AddSeconds(1));
        Assert.Equal(0, r.CurrentWave);
        seen.Answer = new PrometheusAnswer(T0.AddSeconds(2), ["ALERTS{alertname=\"DiskFull\", severity=\"critical\"}"]);
        Decide(r, seen, T0.AddSeconds(2));
        Assert.Equal(RolloutState.Paused, r.State);
        Assert.Equal("prometheus gate: ALERTS returned 1 series: ALERTS{alertname=\"DiskFull\", severity=\"critical\"}", r.StateReason);
        Assert.Equal(GateEngine.Prometheus, r.Gates.PausedBy);

        Decide(r, seen, T0.AddSeconds(3));
        Assert.Equal(RolloutState.Paused, r.State);
        seen.Answer = new PrometheusAnswer(T0.AddSeconds(4), []);
        var notes = Decide(r, seen, T0.AddSeconds(4));
        Assert.Contains(notes, n => n.Reason == "GateCleared");
        Assert.Equal(RolloutState.Rolling, r.State);
        Decide(r, seen, T0.AddSeconds(5));
        Assert.Equal(1, r.CurrentWave);
    }

    [Fact]
    public void An_unreachable_Prometheus_holds_the_rollout_and_says_so_once()
    {
        var r = Rolling(2, 1, new RolloutGates { PrometheusUrl = "http://prom:9090", PrometheusQuery = "ALERTS" });
        var seen = new Seen();
        Decide(r, seen, T0);
        FinishWave(r);
        Decide(r, seen, T0.AddSeconds(1));
        seen.Answer = new PrometheusAnswer(T0.AddSeconds(2), [], "Connection refused");
        var first = Decide(r, seen, T0.AddSeconds(2));
        seen.Answer = new PrometheusAnswer(T0.AddSeconds(3), [], "Connection refused");
        var second = Decide(r, seen, T0.AddSeconds(3));
        Assert.Equal(RolloutState.Rolling, r.State);
        Assert.Equal(0, r.CurrentWave);
        Assert.Single(first, n => n.Reason == "GateHolding");
        Assert.DoesNotContain(second, n => n.Reason == "GateHolding");
        var status = r.Gates.StatusOf(GateEngine.Prometheus);
        Assert.Equal(GateStatus.Holding, status.State);
        Assert.Contains("cannot be asked (Connection refused)", status.Message);
    }

    [Fact]
    public void A_node_running_a_blocking_pod_is_held_not_failed_until_the_pod_is_gone()
    {
        var r = Rolling(2, 2, new RolloutGates { BlockingPods = "app=postgres" }, cluster: "prod");
        var seen = new Seen();
        // Not known yet: nothing starts on a guess.
        Decide(r, seen, T0); // pending → rolling
        Decide(r, seen, T0);
        Assert.All(r.Nodes, n => Assert.Equal(RolloutNodeState.Pending, n.State));
        seen.Blockers["n1"] = "pod db/postgres-0";
        seen.Blockers["n2"] = "";
        var notes = Decide(r, seen, T0.AddSeconds(1));
        Assert.Equal(RolloutNodeState.Pending, r.Node("n1")!.State);
        Assert.Equal("pod db/postgres-0 matches blocking pods app=postgres", r.Node("n1")!.Held);
        Assert.Equal(RolloutNodeState.Running, r.Node("n2")!.State);
        Assert.Single(notes, n => n.Reason == "NodeHeld" && n.Node == "n1");
        Assert.DoesNotContain(Decide(r, seen, T0.AddSeconds(2)), n => n.Reason == "NodeHeld");

        seen.Blockers["n1"] = "";
        notes = Decide(r, seen, T0.AddSeconds(3));
        Assert.Contains(notes, n => n.Reason == "NodeReleased");
        Assert.Equal(RolloutNodeState.Running, r.Node("n1")!.State);
        Assert.Equal("", r.Node("n1")!.Held);
    }

    [Fact]
    public void The_per_label_budget_keeps_at_most_its_number_of_nodes_of_one_value_in_flight()
    {
        var r = Rolling(6, 6, new RolloutGates { MaxUnavailablePer = new() { ["zone"] = 1 } });
        string[] zones = ["a", "a", "b", "b", "c", "c"];
        for (var i = 0; i < 6; i++) r.Nodes[i].Topology["zone"] = zones[i];
        var seen = new Seen();
        Decide(r, seen, T0); // pending → rolling
        Decide(r, seen, T0);
        Assert.Equal(["n1", "n3", "n5"], r.Nodes.Where(n => n.State == RolloutNodeState.Running).Select(n => n.Name));
        r.Node("n3")!.State = RolloutNodeState.Succeeded;
        Decide(r, seen, T0.AddSeconds(1));
        Assert.Equal(["n1", "n4", "n5"], r.Nodes.Where(n => n.State == RolloutNodeState.Running).Select(n => n.Name));
    }

    [Fact]
    public void Gate_flags_are_checked_naming_what_is_wrong()
    {
        Assert.Contains("must be an http:// or https:// address",
            Assert.Throws<FormatException>(() => GateSpec.FromStrategy(new RolloutStrategy { GatePrometheus = "ftp://x", GateQuery = "up" })).Message);
        Assert.Contains("needs gate-query",
            Assert.Throws<FormatException>(() => GateSpec.FromStrategy(new RolloutStrategy { GatePrometheus = "http://p:9090" })).Message);
        Assert.Contains("needs gate-prometheus",
            Assert.Throws<FormatException>(() => GateSpec.FromStrategy(new RolloutStrategy { GateQuery = "up" })).Message);
        var per = new RolloutStrategy();
        per.MaxUnavailablePer["zone"] = 0;
        Assert.Contains("zone=0: the budget must be 1 or more", Assert.Throws<FormatException>(() => GateSpec.FromStrategy(per)).Message);
        var ok = GateSpec.FromStrategy(new RolloutStrategy
        {
            Soak = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMinutes(5)),
            GatePrometheus = "http://prom:9090/", GateQuery = "ALERTS", BlockingPods = "app=postgres",
        });
        Assert.Equal((300_000L, "http://prom:9090", "app=postgres"), (ok.SoakMs, ok.PrometheusUrl, ok.BlockingPods));
    }
}
