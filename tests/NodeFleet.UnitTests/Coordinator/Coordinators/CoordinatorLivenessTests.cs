using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Coordinators;

/// <summary>The one rule by which a coordinator of the store counts as alive: its last heartbeat within the lease TTL plus three heartbeats.</summary>
public sealed class CoordinatorLivenessTests
{
    private static readonly DateTime T0 = new(2030, 5, 1, 8, 0, 0, DateTimeKind.Utc);

    private static CoordinatorRecord SeenAt(DateTime at) => new() { Id = "host/10.0.0.2:7443", Address = "10.0.0.2:7443", LastSeen = at };

    [Theory]
    [InlineData(15, 21.0, true)]
    [InlineData(15, 21.001, false)]
    [InlineData(3, 9.0, true)]
    [InlineData(3, 10.0, false)]
    [InlineData(600, 300.0, true)]
    public void A_coordinator_is_alive_while_its_last_heartbeat_is_within_the_lease_ttl_and_three_heartbeats(int leaseTtlSeconds,
        double secondsSinceSeen, bool alive) =>
        Assert.Equal(alive, CoordinatorHeartbeat.IsAlive(SeenAt(T0), T0.AddSeconds(secondsSinceSeen), TimeSpan.FromSeconds(leaseTtlSeconds)));
}
