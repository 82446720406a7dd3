using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Link;

namespace NodeFleet.Tests.Agent;

/// <summary>How the agent's link fails over: the addresses it tries, their order, the backoff, and deliveries handled once.</summary>
public class LinkFailoverTests
{
    [Fact]
    public void Each_attempt_goes_to_the_next_address_round_the_list()
    {
        Assert.Equal([0, 1, 2, 0, 1], Enumerable.Range(0, 5).Select(a => LinkBackoff.AddressIndex(a, 3)));
        Assert.Equal([0, 0], Enumerable.Range(7, 2).Select(a => LinkBackoff.AddressIndex(a, 1)));
        // The attempt counter may wrap after years of retries: still an index in range.
        Assert.InRange(LinkBackoff.AddressIndex(int.MinValue, 3), 0, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => LinkBackoff.AddressIndex(0, 0));
    }

    [Fact]
    public async Task The_backoff_is_jittered_and_never_waits_longer_than_its_bound()
    {
        var first = TimeSpan.FromMilliseconds(2);
        var max = TimeSpan.FromMilliseconds(16);
        var delays = new List<TimeSpan>();
        var pipeline = LinkBackoff.Pipeline(first, max, _ => true, args =>
        {
            delays.Add(args.RetryDelay);
            return ValueTask.CompletedTask;
        });
        var attempts = 0;
        await pipeline.ExecuteAsync(_ =>
        {
            if (++attempts <= 40) throw new IOException("coordinator unreachable");
            return ValueTask.CompletedTask;
        });
        Assert.Equal(40, delays.Count);
        Assert.All(delays, d => Assert.InRange(d, first / 2, max));
        // Jittered, at the bound too: agents that lost the same coordinator do not all come back at the same instants.
        var capped = delays.Skip(10).ToList();
        Assert.All(capped, d => Assert.InRange(d, max / 2, max));
        Assert.True(capped.Distinct().Count() > 10, string.Join(", ", delays.Select(d => d.TotalMilliseconds)));
    }

    [Theory]
    [InlineData(0, 0.0, 500)]
    [InlineData(0, 0.999, 999)]
    [InlineData(3, 0.0, 4000)]
    [InlineData(6, 0.0, 30000)]
    [InlineData(6, 0.5, 45000)]
    [InlineData(1000, 0.0, 30000)]
    public void Each_delay_is_half_to_all_of_its_doubling_step_capped_at_a_minute(int attempt, double random, int expectedMs)
    {
        var d = LinkBackoff.Delay(attempt, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), random);
        Assert.Equal(expectedMs, (int)d.TotalMilliseconds);
    }

    [Fact]
    public void A_delivery_is_handled_once_and_only_the_oldest_ids_are_forgotten()
    {
        var ids = new DeliveredIds(capacity: 3);
        Assert.True(ids.FirstTime(10));
        Assert.False(ids.FirstTime(10));
        Assert.True(ids.FirstTime(11));
        Assert.True(ids.FirstTime(12));
        Assert.True(ids.FirstTime(13));
        Assert.False(ids.FirstTime(12));
        Assert.True(ids.FirstTime(10));
    }

    [Fact]
    public void The_config_keeps_the_join_addresses_and_the_fleets_list_and_the_agent_tries_both()
    {
        using var dir = new NodeFleet.Tests.TestSupport.TempDir();
        var root = new HostRoot(dir.Path);
        Directory.CreateDirectory(Path.GetDirectoryName(root.Path(AgentPaths.ConfigFile))!);
        new AgentConfig { Coordinator = "a.example:7443,b.example:7443", NodeName = "n1", Coordinators = ["c.example:7443", "a.example:7443"] }.Save(root);
        var text = File.ReadAllText(root.Path(AgentPaths.ConfigFile));
        Assert.Contains("coordinator: a.example:7443,b.example:7443", text);
        Assert.Contains("coordinators: c.example:7443,a.example:7443", text);
        var loaded = AgentConfig.Load(root)!;
        Assert.Equal(["c.example:7443", "a.example:7443", "b.example:7443"], loaded.Addresses());

        File.WriteAllText(root.Path(AgentPaths.ConfigFile), "coordinator: a.example\nnodeName: n1\ncoordinators: c.example,,d\n");
        var e = Assert.Throws<AgentException>(() => AgentConfig.Load(root));
        Assert.Contains("coordinators", e.Message);
        Assert.Contains("entry 2 is empty", e.Message);
    }
}
