namespace NodeFleet.Agent.Execution;

/// <summary>
/// Told of every step transition as it is journaled, mostly inside the transition's own transaction, so that what an
/// observer journals too (the report in the outbox) is committed with it (console progress, reports to the coordinator).
/// </summary>
public interface IRunObserver
{
    void StepChanged(RunRecord run, StepRecord step);
    void RunChanged(RunRecord run);
}

/// <summary>Fans a transition out to several observers.</summary>
public sealed class RunObservers(IEnumerable<IRunObserver> observers) : IRunObserver
{
    private readonly IRunObserver[] _all = observers.ToArray();
    public void StepChanged(RunRecord run, StepRecord step) { foreach (var o in _all) o.StepChanged(run, step); }
    public void RunChanged(RunRecord run) { foreach (var o in _all) o.RunChanged(run); }
}
