using NodeFleet.Coordinator.Rollouts.Windows;

namespace NodeFleet.Coordinator.Rollouts;

/// <summary>
/// Maintenance windows in the rollout engine. A node starts its disruptive phases (its cordon, in a cluster) only while
/// a window that applies to it is open: the rollout's own window (--window) when it names one, else the fleet windows
/// whose selector matched the node when the rollout started; a node no window matched is not restricted. Preparation
/// runs at any time; a node in flight when its window closes finishes (its deadlines still apply), and no other starts.
/// Rolling back is the operator's call and is never held.
/// </summary>
public static partial class RolloutEngine
{
    /// <summary>The windows that apply to <paramref name="n"/>: the rollout's own, or those that covered it at start.</summary>
    public static IReadOnlyList<string> WindowsOf(RolloutRecord r, RolloutNodeRecord n) => r.Window.Length > 0 ? [r.Window] : n.Windows;

    /// <summary>One decision's view of the windows: whether each is open now, computed once, and the nodes held.</summary>
    internal sealed class WindowGate(RolloutRecord r, WindowBook? book, DateTime now)
    {
        private readonly Dictionary<string, (bool Open, DateTime? Next, string Local)> _state = new(StringComparer.Ordinal);

        public int Held { get; private set; }
        /// <summary>Nodes the gate was asked about: none when the budget (or nothing pending) kept the engine from asking.</summary>
        public int Examined { get; private set; }
        public (string Window, DateTime? Opens, string Local)? Earliest { get; private set; }

        /// <summary>Whether <paramref name="n"/> may start now; a node held is counted, with its earliest opening.</summary>
        public bool Allows(RolloutNodeRecord n)
        {
            Examined++;
            if (book is null) return true;
            var names = WindowsOf(r, n);
            if (names.Count == 0) return true;
            (string Window, DateTime? Opens, string Local)? first = null;
            var known = 0;
            foreach (var name in names)
            {
                if (State(name) is not { } s) continue;
                known++;
                if (s.Open) return true;
                if (first is null || s.Next < first.Value.Opens) first = (name, s.Next, s.Local);
            }
            // A fleet window deleted since the start no longer restricts; the rollout's own window cannot be deleted
            // while the rollout is active, and a missing one holds it (nothing can say when it opens).
            if (known == 0)
            {
                if (r.Window.Length == 0) return true;
                first = (r.Window, null, "");
            }
            Held++;
            if (Earliest is null || (first!.Value.Opens ?? DateTime.MaxValue) < (Earliest.Value.Opens ?? DateTime.MaxValue)) Earliest = first;
            return false;
        }

        private (bool Open, DateTime? Next, string Local)? State(string name)
        {
            if (_state.TryGetValue(name, out var s)) return s;
            if (book!.Get(name) is not { } w) return null;
            var open = w.Schedule.IsOpen(now);
            var next = open ? (DateTime?)null : w.Schedule.NextOpening(now);
            s = (open, next, next is { } t && t != DateTime.MaxValue ? w.Schedule.Local(t, now) : "");
            _state[name] = s;
            return s;
        }

        /// <summary>
        /// Records on the rollout what it waits for, with an event when that changes. A pass that asked about no node (the
        /// nodes in flight fill max-unavailable) leaves the wait as it was: it says nothing about the windows.
        /// </summary>
        public void Record(int wave, List<RolloutNote> notes)
        {
            if (Examined == 0) return;
            var name = Earliest?.Window ?? "";
            var opens = Earliest?.Opens;
            if (name == r.WaitingForWindow && opens == r.WindowOpensAt) return;
            var was = r.WaitingForWindow;
            r.WaitingForWindow = name;
            r.WindowOpensAt = opens;
            r.WindowOpensLocal = Earliest?.Local ?? "";
            r.UpdatedAt = now;
            if (name.Length > 0)
                notes.Add(new RolloutNote("Normal", "WaitingForWindow", "",
                    $"wave {wave}: {Held} node(s) wait for window {name}" + (opens is null ? ", which does not exist" : $" (opens {r.WindowOpensLocal})")));
            else if (was.Length > 0) notes.Add(new RolloutNote("Normal", "WindowOpened", "", $"window {was} is open: wave {wave} goes on"));
        }
    }

    /// <summary>"waiting for window night (opens Sat 02:00 CET, in 3h12m)", or "" when the rollout waits for none.</summary>
    public static string WindowWait(RolloutRecord r, DateTime now)
    {
        if (r.State != RolloutState.Rolling || r.WaitingForWindow.Length == 0) return "";
        if (r.WindowOpensAt is not { } opens) return $"waiting for window {r.WaitingForWindow}, which does not exist";
        return $"waiting for window {r.WaitingForWindow} (opens {r.WindowOpensLocal}, in {In(opens - now)})";
    }

    /// <summary>A wait as operators read it, rounded up to the minute: "3h12m", "2d4h", "1m".</summary>
    public static string In(TimeSpan t)
    {
        var minutes = Math.Max(1, (long)Math.Ceiling(t.TotalMinutes));
        var d = minutes / 1440;
        var h = minutes / 60 % 24;
        var m = minutes % 60;
        if (d > 0) return h > 0 ? $"{d}d{h}h" : $"{d}d";
        if (h > 0) return m > 0 ? $"{h}h{m}m" : $"{h}h";
        return $"{m}m";
    }

    /// <summary>
    /// Where each node stands with its windows, for status and dry runs: "window night open until Sat 06:00 CET",
    /// "window night opens Sat 02:00 CET, in 3h12m"; "" for a node no window restricts.
    /// </summary>
    public static string WindowNote(RolloutRecord r, RolloutNodeRecord n, WindowBook book, DateTime now)
    {
        var names = WindowsOf(r, n);
        if (names.Count == 0) return "";
        var notes = new List<(DateTime At, string Text)>();
        foreach (var name in names)
        {
            if (book.Get(name) is not { } w) continue;
            if (w.Schedule.OpenUntil(now) is { } until) return $"window {name} open until {w.Schedule.Local(until, now)}";
            var next = w.Schedule.NextOpening(now);
            if (next != DateTime.MaxValue) notes.Add((next, $"window {name} opens {w.Schedule.Local(next, now)}, in {In(next - now)}"));
        }
        if (notes.Count > 0) return notes.MinBy(x => x.At).Text;
        return r.Window.Length > 0 ? $"window {r.Window} does not exist" : "";
    }
}
