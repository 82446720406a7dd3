using Microsoft.Extensions.Logging;

namespace NodeFleet.Agent.Execution;

/// <summary>Logs every transition: the progress an operator watches in `apply` and finds in the journal under `run`.</summary>
public sealed class LogObserver(ILogger<LogObserver> log) : IRunObserver
{
    public void StepChanged(RunRecord run, StepRecord step)
    {
        switch (step.State)
        {
            case StepState.Running when step.Message.Length > 0:
                log.LogInformation("[{Phase}/{Step}] {Progress}", step.Phase, step.Step, step.Message);
                break;
            case StepState.Running:
                log.LogInformation("[{Phase}/{Step}] running", step.Phase, step.Step);
                break;
            case StepState.Succeeded:
                log.LogInformation("[{Phase}/{Step}] {Result}: {Message}", step.Phase, step.Step, step.Changed ? "applied" : "ok", step.Message);
                break;
            case StepState.Failed:
                log.LogError("[{Phase}/{Step}] failed: {Message}", step.Phase, step.Step, step.Message);
                break;
        }
    }

    public void RunChanged(RunRecord run) =>
        log.LogInformation("Run {Run} of plan {Plan}: {State}", run.Id, run.PlanName, run.State);
}
