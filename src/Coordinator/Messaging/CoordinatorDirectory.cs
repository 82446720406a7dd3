using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Coordinator.Messaging;

/// <summary>
/// The fleet's coordinators as agents reach them (host:port), told to each agent in its welcome so that it can fail
/// over to another; an empty list leaves the agent with its own.
/// </summary>
public interface ICoordinatorDirectory
{
    IReadOnlyList<string> Addresses();
}

/// <summary>
/// The list in the <c>coordinators</c> setting (the same on every coordinator of the fleet) when it is set; otherwise, on a
/// shared store, the addresses of the coordinators alive in the store's <c>coordinators</c> table, as the heartbeat last
/// read it (<see cref="Refresh"/>). On LiteDB, with no setting, the list is empty: the only coordinator has no other to
/// offer, and its listen address may not be the name its agents reach it by.
/// </summary>
public sealed class CoordinatorDirectory(IOptions<CoordinatorOptions> options, CoordinatorIdentity me) : ICoordinatorDirectory
{
    private readonly IReadOnlyList<string> _configured = options.Value.CoordinatorAddresses;
    private readonly bool _fromRegistry = options.Value.CoordinatorAddresses.Count == 0 && options.Value.UsesPostgres;
    // Replaced whole, and only when it changes, so a reader sees the same instance until then.
    private volatile IReadOnlyList<string> _live = [];

    /// <summary>Whether the list follows the store's registry (no <c>coordinators</c> setting, a shared store).</summary>
    public bool FollowsRegistry => _fromRegistry;

    public IReadOnlyList<string> Addresses() => _fromRegistry ? _live : _configured;

    /// <summary>
    /// Takes the coordinators alive at <paramref name="now"/> (<see cref="CoordinatorHeartbeat.IsAlive"/>, with the singleton
    /// lease's <paramref name="leaseTtl"/>) from the registry's records: their addresses, this coordinator's always among
    /// them, sorted so that every coordinator tells the same list.
    /// </summary>
    public void Refresh(IEnumerable<CoordinatorRecord> records, DateTime now, TimeSpan leaseTtl)
    {
        var addresses = records.Where(c => CoordinatorHeartbeat.IsAlive(c, now, leaseTtl) && c.Address.Length > 0).Select(c => c.Address)
            .Append(me.Address)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (!addresses.SequenceEqual(_live, StringComparer.Ordinal)) _live = addresses;
    }
}
