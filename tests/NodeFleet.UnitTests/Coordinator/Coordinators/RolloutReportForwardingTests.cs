using NodeFleet.Coordinator.Messaging;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Plans;
using NodeFleet.Coordinator.Rollouts;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;
using RolloutNodeState = NodeFleet.Coordinator.Rollouts.RolloutNodeState;

namespace NodeFleet.Tests.Coordinator.Coordinators;

/// <summary>
/// Two coordinators' rollout controllers on one store (a real LiteDB file standing for the shared database): a report
/// that reaches the one without the singleton lease is queued in the store and applied once by the holder.
/// </summary>
public sealed class RolloutReportForwardingTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();
    private readonly Presence _presence;
    private SingletonLease _holderLease = null!, _otherLease = null!;
    private RolloutController _holder = null!, _other = null!;
    private RolloutService _service = null!;

    public RolloutReportForwardingTests() => _presence = new Presence(_rig.Time);

    private SingletonLease Lease(int port) => new(_rig.Store, _rig.Events,
        new CoordinatorIdentity(new IPEndPoint(IPAddress.Loopback, port), DateTime.UtcNow),
        Microsoft.Extensions.Options.Options.Create(new CoordinatorOptions()), TimeProvider.System, NullLogger<SingletonLease>.Instance, shared: true);

    private RolloutController Controller(SingletonLease lease) => new(_rig.Store, _presence, _rig.Events,
        new RolloutMetrics(Prometheus.Metrics.NewCustomRegistry()), _rig.Time, NullLogger<RolloutController>.Instance, new NodeMessages(_rig.Store), singleton: lease);

    public async Task InitializeAsync()
    {
        _holderLease = Lease(7443);
        _otherLease = Lease(7444);
        await _holderLease.TickAsync();
        await _otherLease.TickAsync();
        _holder = Controller(_holderLease);
        _other = Controller(_otherLease);
        _service = new RolloutService(_rig.Store, new PlanService(_rig.Store, _rig.Registry, _presence, _rig.Events, _rig.Time, new NodeMessages(_rig.Store)),
            _rig.Registry, _holder, _rig.Events, _rig.Time);
        var token = await _rig.CreateTokenAsync();
        foreach (var name in new[] { "w1", "w2" }) (await _rig.JoinAsync(token, name, new Dictionary<string, string> { ["role"] = "worker" })).Key.Dispose();
    }

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    [Fact]
    public async Task A_report_reaching_the_coordinator_without_the_lease_is_applied_once_by_the_holder()
    {
        Assert.NotNull(_holderLease.Current);
        Assert.Null(_otherLease.Current);
        var r = await _service.StartAsync(new StartRolloutRequest
        {
            Plan = PlanTestData.Load("valid-minimal.yaml").Plan, Selector = "role=worker",
            Strategy = new RolloutStrategy { Canary = 1, MaxUnavailable = "1" },
        });
        // Both nodes sent their prepare request, as the holder's controller does for online nodes.
        await _rig.Store.WriteAsync(s =>
        {
            var record = s.Rollouts.Get(r.Id)!;
            record.State = NodeFleet.Coordinator.Rollouts.RolloutState.Preparing;
            foreach (var n in record.Nodes) n.State = RolloutNodeState.Preparing;
            s.Rollouts.Update(record);
        });

        var report = new StepReport { RolloutId = r.Id, Stage = RolloutEngine.StagePrepare, RunId = "run-1", RunState = RunState.Succeeded };
        // The holder applies what reaches it itself; the other queues it, in the write that records the report.
        Assert.Null(_holder.ForwardFor("w1", report));
        var forward = Assert.IsType<Action<NodeFleet.Coordinator.Store.IStoreWriter>>(_other.ForwardFor("w1", report));
        await _rig.Store.WriteAsync(forward);
        // The other's controller does nothing with it: it holds no lease.
        await _other.RunOnceAsync(CancellationToken.None);
        Assert.Equal(RolloutNodeState.Preparing, _rig.Store.Rollouts.Get(r.Id)!.Node("w1")!.State);

        await _holder.RunOnceAsync(CancellationToken.None);
        var stored = _rig.Store.Rollouts.Get(r.Id)!;
        Assert.Equal(RolloutNodeState.Prepared, stored.Node("w1")!.State);
        Assert.Equal(RolloutNodeState.Preparing, stored.Node("w2")!.State);
        // Taken once: the queue is empty.
        Assert.Empty(await _rig.Store.WriteAsync(s => s.RolloutReports.Take(10)));
    }
}
