using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Coordinator.Rollouts.Gates;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The contract for a rollout's gates: what was asked and where the check stands survive a write and a read.</summary>
public abstract partial class StoreContractTests
{
    [Fact]
    public async Task A_rollouts_gates_keep_the_soaks_start_the_gate_states_and_held_nodes()
    {
        var at = new DateTime(2030, 1, 1, 0, 0, 5, DateTimeKind.Utc);
        var r = Rollout("r1", RolloutState.Rolling, "w1", "w2");
        r.Gates = new RolloutGates
        {
            SoakMs = 300_000, PrometheusUrl = "http://prom:9090", PrometheusQuery = "ALERTS{severity=\"critical\"}", BlockingPods = "app=postgres",
            MaxUnavailablePer = { ["topology.kubernetes.io/zone"] = 1 },
            Wave = 0, CheckedSince = at, SoakStartedAt = at, PausedBy = GateEngine.Prometheus, PausedAt = at,
        };
        r.Gates.Status.Add(new GateStatus { Name = GateEngine.Soak, State = GateStatus.Waiting, Message = "soaking: 1m of 5m", Since = at });
        r.Node("w2")!.Held = "pod db/postgres-0 matches blocking pods app=postgres";
        r.Node("w2")!.Topology["topology.kubernetes.io/zone"] = "a";
        await Store.WriteAsync(s => s.Rollouts.Insert(r));

        var again = Store.Rollouts.Get("r1")!;
        var g = again.Gates;
        Assert.Equal((300_000L, "http://prom:9090", "ALERTS{severity=\"critical\"}", "app=postgres"), (g.SoakMs, g.PrometheusUrl, g.PrometheusQuery, g.BlockingPods));
        Assert.Equal(1, g.MaxUnavailablePer["topology.kubernetes.io/zone"]);
        Assert.Equal((0, at, at, "prometheus", at), (g.Wave, g.CheckedSince, g.SoakStartedAt, g.PausedBy, g.PausedAt));
        var soak = Assert.Single(g.Status);
        Assert.Equal(("soak", "waiting", "soaking: 1m of 5m", at), (soak.Name, soak.State, soak.Message, soak.Since));
        Assert.Equal("pod db/postgres-0 matches blocking pods app=postgres", again.Node("w2")!.Held);
        Assert.Equal("a", again.Node("w2")!.Topology["topology.kubernetes.io/zone"]);
        Assert.Equal("", again.Node("w1")!.Held);
    }
}
