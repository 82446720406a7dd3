namespace NodeFleet.Coordinator.Rollouts.Windows;

/// <summary>A maintenance window as stored (`nodefleet window set`): the nodes it covers and when it is open.</summary>
public sealed class WindowRecord : Store.IRevisioned
{
    /// <summary>Moved on by every update (compare-and-swap).</summary>
    public long Revision { get; set; }
    public string Name { get; set; } = "";
    /// <summary>Label selector of the nodes the window covers; "" = every node.</summary>
    public string Selector { get; set; } = "";
    /// <summary>The schedule as written (<see cref="WindowSchedule"/>).</summary>
    public string Schedule { get; set; } = "";
    /// <summary>IANA time zone the schedule's hours are in.</summary>
    public string TimeZone { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}
