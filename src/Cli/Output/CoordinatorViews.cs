using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>`nodefleet coordinators`: ID, ADDRESS, VERSION, AGENTS, LEASE, STATUS, LAST SEEN, STARTED.</summary>
public static class CoordinatorViews
{
    public static Table List(IEnumerable<CoordinatorInfo> coordinators, DateTimeOffset now)
    {
        var table = new Table(["ID", "ADDRESS", "VERSION", "AGENTS", "LEASE", "STATUS", "LAST SEEN", "STARTED"]);
        foreach (var c in coordinators)
        {
            table.AddRow([c.Id, c.Address, c.Version, c.ConnectedAgents.ToString(System.Globalization.CultureInfo.InvariantCulture),
                c.LeaseHeld ? "held" : TimeText.None, c.Alive ? "alive" : "stopped", TimeText.Ago(c.LastSeen, now), TimeText.Ago(c.StartedAt, now)]);
        }
        return table;
    }
}
