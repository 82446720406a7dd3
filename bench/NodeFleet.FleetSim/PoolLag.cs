using System.Diagnostics;

namespace NodeFleet.FleetSim;

/// <summary>
/// How late this process's thread pool runs a 100 ms timer: the simulator's own health. When thousands of simulated
/// agents work at once on two cores, their links' timers and reads wait in the same queue; a lag of many seconds means
/// the simulator, not the coordinator, is what agents are waiting for.
/// </summary>
public sealed class PoolLag : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _lagsMs = [];
    private readonly Task _loop;

    public PoolLag()
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var sw = Stopwatch.StartNew();
                try { await Task.Delay(100, _stop.Token); }
                catch (OperationCanceledException) { break; }
                lock (_lagsMs) _lagsMs.Add(Math.Max(0, sw.Elapsed.TotalMilliseconds - 100));
            }
        });
    }

    /// <summary>The lags seen since the last call (max and 99th percentile, ms), and starts over.</summary>
    public (double Max, double P99) TakeWindow()
    {
        double[] lags;
        lock (_lagsMs)
        {
            lags = [.. _lagsMs];
            _lagsMs.Clear();
        }
        if (lags.Length == 0) return (0, 0);
        Array.Sort(lags);
        return (lags[^1], lags[Math.Clamp((int)Math.Ceiling(lags.Length * 0.99) - 1, 0, lags.Length - 1)]);
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(TimeSpan.FromSeconds(1)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}
