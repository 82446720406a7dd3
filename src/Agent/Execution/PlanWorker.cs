using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Executes plans one at a time under `run`: first whatever run a crash interrupted, then plans sent by the
/// coordinator, in order.
/// </summary>
public sealed class PlanWorker(PlanExecutor executor, ILogger<PlanWorker> log) : BackgroundService
{
    private readonly Channel<CoordinatorMessage> _queue = Channel.CreateUnbounded<CoordinatorMessage>();

    /// <summary>Queues an ApplyPlan or UndoRun; they run one at a time, in order.</summary>
    public void Enqueue(CoordinatorMessage request) => _queue.Writer.TryWrite(request);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await executor.ResumeAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError(e, "Resuming the interrupted run failed");
        }
        await foreach (var message in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                if (message.ApplyPlan is { Plan: not null } apply)
                {
                    await executor.ApplyAsync(apply.Plan,
                        new PlanExecutor.Options(apply.IgnorePreflightErrors.ToList(), apply.RolloutId, apply.Stage, apply.KubeadmAction), stoppingToken);
                }
                else if (message.UndoRun is { } undo)
                {
                    await executor.UndoRunAsync(undo.RunId, stoppingToken);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError("Request from the coordinator not carried out: {Error}", e.Message);
            }
        }
    }
}
