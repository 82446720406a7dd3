using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class HeartbeatPacerTests
{
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(0, 10)]
    [InlineData(1, 10)]
    [InlineData(2000, 10)]   // 2,000 nodes every 10 s: 200/s, the bound
    [InlineData(2001, 11)]   // whole seconds, rounded up
    [InlineData(10_000, 50)]
    [InlineData(15_000, 75)]
    public void Target_keeps_the_rate_at_the_bound_and_never_goes_below_the_configured_period(int connected, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), new HeartbeatPacer(Base, 200).Target(connected));

    [Fact]
    public void No_bound_keeps_the_configured_period() =>
        Assert.Equal(Base, new HeartbeatPacer(Base, 0).Target(1_000_000));

    [Fact]
    public void Current_grows_past_ten_percent_and_shrinks_only_well_below()
    {
        var pacer = new HeartbeatPacer(Base, 200);
        Assert.False(pacer.Update(2100));                    // 11 s is only 10 % above 10 s
        Assert.Equal(Base, pacer.Current);
        Assert.True(pacer.Update(10_000));                   // a fleet connecting: straight to 50 s
        Assert.Equal(TimeSpan.FromSeconds(50), pacer.Current);
        Assert.False(pacer.Update(10_400));                  // 52 s: not worth telling every agent
        Assert.False(pacer.Update(8100));                    // 41 s needed: within 25 % of 50 s
        Assert.Equal(TimeSpan.FromSeconds(50), pacer.Current);
        Assert.True(pacer.Update(7000));                     // 35 s needed
        Assert.Equal(TimeSpan.FromSeconds(35), pacer.Current);
        Assert.True(pacer.Update(3));                        // back to a small fleet: the configured period
        Assert.Equal(Base, pacer.Current);
        Assert.False(pacer.Update(0));
    }

    [Fact]
    public void A_fleet_just_above_the_bound_that_shrinks_returns_to_the_configured_period()
    {
        var pacer = new HeartbeatPacer(Base, 200);
        Assert.True(pacer.Update(2300));                     // 12 s
        Assert.False(pacer.Update(2000));                    // needs exactly 10 s: 12 s is within 25 %
        Assert.True(pacer.Update(1900));                     // 9.5 s needed
        Assert.Equal(Base, pacer.Current);
    }

    [Fact]
    public void Options_give_the_bound_and_refuse_a_negative_rate()
    {
        var o = new CoordinatorOptions();
        Assert.Equal(100, o.MaxHeartbeatRate);
        Assert.Equal(TimeSpan.FromSeconds(10), new HeartbeatPacer(Microsoft.Extensions.Options.Options.Create(o)).Target(1_000));
        Assert.Equal(TimeSpan.FromSeconds(100), new HeartbeatPacer(Microsoft.Extensions.Options.Options.Create(o)).Target(10_000));
        var e = Assert.Throws<StartupException>(() => new CoordinatorOptions { MaxHeartbeatRate = -1 }.Validate());
        Assert.Contains("maxHeartbeatRate", e.Message);
    }

    [Fact]
    public void A_session_is_checked_against_the_longer_of_its_last_two_periods_until_it_heartbeats_at_the_new_one()
    {
        var session = new Presence(new ManualTime()).Open("n");
        session.SetInterval(TimeSpan.FromSeconds(50));
        session.IntervalAdopted();
        session.SetInterval(TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.FromSeconds(50), session.DetectionInterval);
        session.IntervalAdopted();
        Assert.Equal(TimeSpan.FromSeconds(10), session.DetectionInterval);
    }

    [Fact]
    public void Presence_counts_connected_streams_without_grace_placeholders()
    {
        var presence = new Presence(new ManualTime());
        presence.AddGrace("a");
        presence.AddGrace("b");
        Assert.Equal(0, presence.ConnectedCount);
        var a = presence.Open("a");                          // replaces a grace placeholder
        Assert.Equal(1, presence.ConnectedCount);
        var a2 = presence.Open("a");                         // replaces a connected stream
        Assert.Equal(1, presence.ConnectedCount);
        Assert.False(presence.Close(a));                     // no longer the current one
        Assert.Equal(1, presence.ConnectedCount);
        presence.Open("c");
        Assert.Equal(2, presence.ConnectedCount);
        presence.Kick("c");
        presence.Kick("b");                                  // a placeholder: not counted
        Assert.Equal(1, presence.ConnectedCount);
        Assert.True(presence.Close(a2));
        Assert.Equal(0, presence.ConnectedCount);
    }

    [Fact]
    public void Presence_count_stays_exact_under_concurrent_opens_and_closes()
    {
        var presence = new Presence(new ManualTime());
        Parallel.For(0, 4000, i =>
        {
            var s = presence.Open($"n{i % 50}");
            if (i % 3 == 0) presence.Close(s);
        });
        Assert.Equal(presence.Snapshot().Count(s => s.Connected), presence.ConnectedCount);
    }
}
