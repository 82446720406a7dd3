using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Rollouts.Windows;

/// <summary>A stored window, parsed: its selector and schedule.</summary>
public sealed record MaintenanceWindow(string Name, LabelSelector Selector, WindowSchedule Schedule)
{
    /// <summary>Parses a stored record; FormatException when it does not parse (it was checked when it was set).</summary>
    public static MaintenanceWindow From(WindowRecord r) =>
        new(r.Name, LabelSelector.Parse(r.Selector), WindowSchedule.Parse(r.Schedule, r.TimeZone));
}

/// <summary>
/// The maintenance windows known at one instant, by name, as the rollout engine consults them. Which windows cover a
/// node of a rollout is decided when the rollout starts (with its waves); their schedules are read at every decision,
/// so a window edited later applies to rollouts already running.
/// </summary>
public sealed class WindowBook
{
    public static readonly WindowBook Empty = new([]);

    private readonly Dictionary<string, MaintenanceWindow> _byName;

    public WindowBook(IEnumerable<MaintenanceWindow> windows) =>
        _byName = windows.ToDictionary(w => w.Name, StringComparer.Ordinal);

    /// <summary>The stored windows; one that no longer parses (the system's tzdata lost its zone) is left out.</summary>
    public static WindowBook From(IEnumerable<WindowRecord> records)
    {
        var list = new List<MaintenanceWindow>();
        foreach (var r in records)
        {
            try { list.Add(MaintenanceWindow.From(r)); }
            catch (FormatException) { }
        }
        return new WindowBook(list);
    }

    public bool IsEmpty => _byName.Count == 0;

    public MaintenanceWindow? Get(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The windows whose selector matches <paramref name="labels"/>, by name.</summary>
    public List<string> Covering(IReadOnlyDictionary<string, string> labels) =>
        _byName.Values.Where(w => w.Selector.Matches(labels)).Select(w => w.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
}
