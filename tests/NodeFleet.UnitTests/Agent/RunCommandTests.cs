using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Commands;

namespace NodeFleet.Tests.Agent;

public sealed class RunCommandTests
{
    private sealed class Events
    {
        private readonly List<string> _list = [];
        public void Add(string e) { lock (_list) _list.Add(e); }
        public List<string> All { get { lock (_list) return [.. _list]; } }
    }

    private sealed class Notifier(Events events, bool enabled = true) : ISystemdNotifier
    {
        public bool IsEnabled => enabled;
        public void Notify(ServiceState state) => events.Add($"systemd {state}");
    }

    /// <summary>Runs until stopped, or fails after <paramref name="failAfter"/>.</summary>
    private sealed class Service(string name, Events events, TimeSpan? failAfter = null) : BackgroundService
    {
        public override Task StartAsync(CancellationToken ct)
        {
            events.Add($"start {name}");
            return base.StartAsync(ct);
        }

        public override Task StopAsync(CancellationToken ct)
        {
            events.Add($"stop {name}");
            return base.StopAsync(ct);
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (failAfter is { } after)
            {
                await Task.Delay(after, stoppingToken);
                throw new InvalidOperationException($"{name} broke");
            }
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
    }

    [Fact]
    public async Task Starts_in_order_notifies_ready_and_on_termination_stops_in_reverse_order()
    {
        var events = new Events();
        using var a = new Service("a", events);
        using var b = new Service("b", events);
        using var terminate = new CancellationTokenSource();
        var run = RunCommand.RunAsync([a, b], Task.CompletedTask, new Notifier(events), NullLogger.Instance, terminate.Token);
        await WaitForAsync(() => events.All.Contains("systemd READY=1"));
        Assert.False(run.IsCompleted);

        await terminate.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["start a", "start b", "systemd READY=1", "systemd STOPPING=1", "stop b", "stop a"], events.All);
    }

    [Fact]
    public async Task A_failed_service_stops_the_others_and_the_exit_code_is_1()
    {
        var events = new Events();
        using var a = new Service("a", events);
        using var b = new Service("b", events, failAfter: TimeSpan.FromMilliseconds(50));
        var code = await RunCommand.RunAsync([a, b], new TaskCompletionSource().Task, new Notifier(events), NullLogger.Instance,
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, code);
        Assert.Equal(["start a", "start b", "systemd READY=1", "systemd STOPPING=1", "stop b", "stop a"], events.All);
    }

    [Fact]
    public async Task Outside_systemd_nothing_is_notified()
    {
        var events = new Events();
        using var a = new Service("a", events);
        using var terminate = new CancellationTokenSource();
        var run = RunCommand.RunAsync([a], Task.CompletedTask, new Notifier(events, enabled: false), NullLogger.Instance, terminate.Token);
        await WaitForAsync(() => events.All.Contains("start a"));
        await terminate.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["start a", "stop a"], events.All);
    }

    [Fact]
    public async Task Once_start_up_has_settled_the_start_up_memory_is_released_and_not_before()
    {
        var events = new Events();
        using var a = new Service("a", events);
        using var terminate = new CancellationTokenSource();
        var settled = new TaskCompletionSource();
        var run = RunCommand.RunAsync([a], settled.Task, new Notifier(events), NullLogger.Instance, terminate.Token,
            releaseStartupMemory: () => events.Add("released"));
        await WaitForAsync(() => events.All.Contains("systemd READY=1"));
        await Task.Delay(100);
        Assert.DoesNotContain("released", events.All);

        settled.SetResult();
        await WaitForAsync(() => events.All.Contains("released"));

        await terminate.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Single(events.All, e => e == "released");
    }

    [Fact]
    public void Releasing_start_up_memory_is_a_full_collection()
    {
        var before = GC.CollectionCount(GC.MaxGeneration);
        RunCommand.ReleaseStartupMemory();
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > before);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(10);
        }
    }
}
