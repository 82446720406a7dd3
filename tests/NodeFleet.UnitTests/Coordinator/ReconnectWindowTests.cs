using NodeFleet.Agent.Link;
using NodeFleet.Coordinator.Nodes;

namespace NodeFleet.Tests.Coordinator;

public sealed class ReconnectWindowTests
{
    [Theory]
    [InlineData(0, 1)]          // nobody to spread: the shortest window
    [InlineData(1, 1)]
    [InlineData(200, 1)]        // 200 agents at 200/s: one second
    [InlineData(201, 2)]        // whole seconds, rounded up
    [InlineData(3_000, 15)]
    [InlineData(10_000, 50)]
    [InlineData(119_999, 600)]  // ten minutes, the longest
    [InlineData(1_000_000, 600)]
    public void The_window_is_the_fleet_over_the_rate_in_whole_seconds_from_one_second_to_ten_minutes(int nodes, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), new ReconnectWindow(200).Target(nodes));

    [Fact]
    public void No_rate_means_no_spreading() =>
        Assert.Equal(ReconnectWindow.Min, new ReconnectWindow(0).Target(1_000_000));

    [Fact]
    public void Current_grows_past_ten_percent_and_shrinks_only_well_below()
    {
        var window = new ReconnectWindow(200);
        Assert.Equal(ReconnectWindow.Min, window.Current);
        Assert.True(window.Update(10_000));                  // a fleet connecting (or expected back after a restart)
        Assert.Equal(TimeSpan.FromSeconds(50), window.Current);
        Assert.False(window.Update(10_800));                 // 54 s: not worth telling every agent
        Assert.False(window.Update(8_200));                  // 41 s: within 25 % of 50 s
        Assert.Equal(TimeSpan.FromSeconds(50), window.Current);
        Assert.True(window.Update(7_000));                   // 35 s
        Assert.Equal(TimeSpan.FromSeconds(35), window.Current);
        Assert.True(window.Update(3));
        Assert.Equal(ReconnectWindow.Min, window.Current);
        Assert.False(window.Update(0));
    }

    [Theory]
    [InlineData(50, 0.0, 1000)]     // never sooner than the agent's first retry delay
    [InlineData(50, 0.5, 25500)]    // a point of the window
    [InlineData(50, 0.999, 49951)]
    [InlineData(1, 0.7, 1000)]      // a window of a second or less (or none told): the old fixed delay
    [InlineData(0, 0.7, 1000)]
    [InlineData(3600, 1.0, 600000)] // a window beyond ten minutes is held to ten
    public void After_a_break_the_agent_waits_a_random_point_of_the_window(int windowSeconds, double random, int expectedMs)
    {
        var d = LinkBackoff.AfterBreak(TimeSpan.FromSeconds(windowSeconds), TimeSpan.FromSeconds(1), random);
        Assert.Equal(expectedMs, (int)Math.Round(d.TotalMilliseconds));
    }
}
