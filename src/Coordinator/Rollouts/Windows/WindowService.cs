using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Store;
using NodeFleet.Labels;

namespace NodeFleet.Coordinator.Rollouts.Windows;

/// <summary>A window with where it stands now: open (until when) or closed (when it opens next), said in its zone.</summary>
public sealed record WindowView(WindowRecord Record, bool Open, DateTime? NextChange, string Status);

/// <summary>Sets, lists and deletes maintenance windows; every change checked first and recorded as an event.</summary>
public sealed class WindowService(ICoordinatorStore store, EventBus events, RolloutController controller,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(RolloutClock.Key)] TimeProvider time)
{
    public async Task<WindowView> SetAsync(string name, string selector, string schedule, string timeZone)
    {
        if (LabelSyntax.ClusterNameError(name) is not null)
            throw new InvalidArgumentException($"window name '{name}' must be a lowercase DNS-1123 label (a-z, 0-9, '-'; beginning and ending alphanumeric; at most 63 characters)");
        try { LabelSelector.Parse(selector); }
        catch (FormatException e) { throw new InvalidArgumentException($"window {name}: selector: {e.Message}"); }
        WindowSchedule parsed;
        try { parsed = WindowSchedule.Parse(schedule, timeZone); }
        catch (FormatException e) { throw new InvalidArgumentException($"window {name}: {e.Message}"); }
        var now = time.GetUtcNow().UtcDateTime;
        var record = await store.WriteAsync(s =>
        {
            var existing = s.Windows.Get(name);
            var r = existing ?? new WindowRecord { Name = name, CreatedAt = now };
            r.Selector = selector.Trim();
            r.Schedule = parsed.Text;
            r.TimeZone = parsed.Zone.Id;
            r.UpdatedAt = now;
            if (existing is null) s.Windows.Insert(r); else s.Windows.Update(r);
            s.AddEvent(events, new EventRecord
            {
                Time = now, Type = "Normal", Reason = existing is null ? "WindowCreated" : "WindowUpdated",
                Message = $"window {name}: {r.Schedule} ({r.TimeZone}) on " + (r.Selector.Length > 0 ? $"nodes {r.Selector}" : "every node"),
            });
            return r;
        });
        controller.Wake();
        return View(record, now);
    }

    public IReadOnlyList<WindowView> List()
    {
        var now = time.GetUtcNow().UtcDateTime;
        return store.Windows.List().Select(r => View(r, now)).ToList();
    }

    /// <summary>Refused while an active rollout names the window as its own: it would wait for a window that no longer exists.</summary>
    public async Task DeleteAsync(string name)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await store.WriteAsync(s =>
        {
            if (s.Windows.Get(name) is null) throw new NotFoundException($"window {name} not found");
            var users = s.Rollouts.ListActive().Where(r => r.Window == name).Select(r => r.Id).ToList();
            if (users.Count > 0)
                throw new FailedPreconditionException(
                    $"window {name} is the own window of active rollout(s) {string.Join(", ", users)}; abort them first, or let them finish");
            s.Windows.Delete(name);
            s.AddEvent(events, new EventRecord { Time = now, Type = "Normal", Reason = "WindowDeleted", Message = $"window {name} deleted" });
        });
        controller.Wake();
    }

    private static WindowView View(WindowRecord r, DateTime now)
    {
        WindowSchedule schedule;
        try { schedule = WindowSchedule.Parse(r.Schedule, r.TimeZone); }
        catch (FormatException e) { return new WindowView(r, false, null, $"unusable: {e.Message}"); }
        if (schedule.OpenUntil(now) is { } until) return new WindowView(r, true, until, $"open until {schedule.Local(until, now)}");
        var next = schedule.NextOpening(now);
        return new WindowView(r, false, next, $"opens {schedule.Local(next, now)}, in {RolloutEngine.In(next - now)}");
    }
}
