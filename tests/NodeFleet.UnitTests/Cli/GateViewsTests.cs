using System.Text;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Cli;
using NodeFleet.Cli.Commands;
using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Cli;

/// <summary>The gate flags as the CLI checks them, and the gates as `rollout status` shows them.</summary>
public sealed class GateViewsTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Per_label_budgets_are_key_and_number_each_key_once()
    {
        Assert.Equal([("topology.kubernetes.io/zone", 1), ("rack", 2)], GateOptions.PerLabel(["topology.kubernetes.io/zone=1,rack=2"]));
        Assert.Contains("must be KEY=N", Assert.Throws<CliException>(() => GateOptions.PerLabel(["zone"])).Message);
        Assert.Contains("1 or more", Assert.Throws<CliException>(() => GateOptions.PerLabel(["zone=0"])).Message);
        Assert.Contains("given twice", Assert.Throws<CliException>(() => GateOptions.PerLabel(["zone=1", "zone=2"])).Message);
    }

    [Fact]
    public void Describe_names_the_gates_asked_for()
    {
        var s = new RolloutStrategy { Soak = Duration.FromTimeSpan(TimeSpan.FromMinutes(5)), GatePrometheus = "http://p:9090", GateQuery = "ALERTS", BlockingPods = "app=postgres" };
        s.MaxUnavailablePer["topology.kubernetes.io/zone"] = 1;
        Assert.Equal("soak 5m; prometheus http://p:9090 ALERTS; blocking pods app=postgres; at most 1 in flight per topology.kubernetes.io/zone",
            GateViews.Strategy(s));
        Assert.Equal("<none>", GateViews.Strategy(new RolloutStrategy()));
    }

    [Fact]
    public void Status_shows_each_gate_and_the_nodes_held_back()
    {
        var r = new Rollout { Id = "r1", GateWave = 1 };
        r.Gates.Add(new RolloutGate { Name = "soak", State = "waiting", Message = "soaking: 2m0s of 5m", Since = Timestamp.FromDateTimeOffset(Now.AddMinutes(-2)) });
        r.Gates.Add(new RolloutGate { Name = "prometheus", State = "holding", Message = "Prometheus at http://p:9090 cannot be asked", Since = Timestamp.FromDateTimeOffset(Now.AddSeconds(-3)) });
        r.Nodes.Add(new RolloutNode { Name = "db-2", Wave = 2, State = RolloutNodeState.Pending, Held = "pod db/postgres-0 matches blocking pods app=postgres" });
        r.Nodes.Add(new RolloutNode { Name = "w-1", Wave = 2, State = RolloutNodeState.Pending });
        var sb = new StringBuilder();
        GateViews.Append(sb, r, Now);
        Assert.Equal("""
            Gates (after wave 1):
              soak: WAITING for 2m: soaking: 2m0s of 5m
              prometheus: HOLDING for 3s: Prometheus at http://p:9090 cannot be asked
            Held back:
              db-2 (wave 2): pod db/postgres-0 matches blocking pods app=postgres
              (`nodefleet rollout skip r1 NODE` goes on without one)

            """.ReplaceLineEndings("\n"), sb.ToString());
    }

    [Fact]
    public void A_rollout_paused_by_its_Prometheus_gate_says_it_goes_on_by_itself()
    {
        var r = new Rollout { Id = "r1", GateWave = 0, State = RolloutState.Paused };
        r.Gates.Add(new RolloutGate { Name = "prometheus", State = "paused", Message = "ALERTS{alertname=\"DiskFull\"}", Since = Timestamp.FromDateTimeOffset(Now.AddSeconds(-5)) });
        var sb = new StringBuilder();
        GateViews.Append(sb, r, Now);
        Assert.Equal("""
            Gates (after wave 0):
              prometheus: PAUSED for 5s: ALERTS{alertname="DiskFull"}
              (it goes on by itself once the query returns no series)

            """.ReplaceLineEndings("\n"), sb.ToString());
    }
}
