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
    private readonly Channel<ApplyPlan> _queue = Channel.CreateUnbounded<ApplyPlan>();

    public void Enqueue(ApplyPlan request) => _queue.Writer.TryWrite(request);

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
        await foreach (var request in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                if (request.Plan is null) continue;
                await executor.ApplyAsync(request.Plan, new PlanExecutor.Options(request.IgnorePreflightErrors.ToList()), stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError("Plan {Plan} not applied: {Error}", request.Plan?.Metadata?.Name, e.Message);
            }
        }
    }
}
