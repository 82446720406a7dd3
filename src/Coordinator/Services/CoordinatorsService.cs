using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>`nodefleet coordinators`: the coordinators sharing this store, from their heartbeat records.</summary>
public sealed class CoordinatorsService(ICoordinatorStore store, CoordinatorIdentity me, SingletonLease lease, TimeProvider time)
    : NodeFleet.Protocol.V1.Coordinators.CoordinatorsBase
{
    public override Task<ListCoordinatorsResponse> List(ListCoordinatorsRequest request, ServerCallContext context)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var response = new ListCoordinatorsResponse { AnsweredBy = me.Id };
        foreach (var c in store.Coordinators.List())
        {
            var alive = CoordinatorHeartbeat.IsAlive(c, now, lease.Ttl);
            response.Coordinators.Add(new CoordinatorInfo
            {
                Id = c.Id, Address = c.Address, Version = c.Version, ConnectedAgents = c.ConnectedAgents,
                // A dead coordinator's last word on the lease is no longer true.
                LeaseHeld = c.LeaseHeld && alive,
                StartedAt = Timestamp.FromDateTime(DateTime.SpecifyKind(c.StartedAt, DateTimeKind.Utc)),
                LastSeen = Timestamp.FromDateTime(DateTime.SpecifyKind(c.LastSeen, DateTimeKind.Utc)),
                Alive = alive,
            });
        }
        return Task.FromResult(response);
    }
}
