using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Coordinator.Messaging;

/// <summary>
/// The fleet's coordinators as agents reach them (host:port), told to each agent in its welcome so that it can fail
/// over to another; an empty list leaves the agent with its own.
/// </summary>
public interface ICoordinatorDirectory
{
    IReadOnlyList<string> Addresses();
}

/// <summary>The list in the <c>coordinators</c> setting (the same on every coordinator of the fleet).</summary>
public sealed class ConfiguredCoordinators(IOptions<CoordinatorOptions> options) : ICoordinatorDirectory
{
    private readonly IReadOnlyList<string> _addresses = options.Value.CoordinatorAddresses;
    public IReadOnlyList<string> Addresses() => _addresses;
}
