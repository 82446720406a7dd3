using Grpc.Net.Client;
using NodeFleet.Config;
using NodeFleet.Net;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>gRPC clients of a test cluster's operator APIs with its admin certificate (real mTLS over loopback).</summary>
public sealed class AdminClients : IDisposable
{
    private readonly GrpcChannel _channel;

    /// <param name="address">Another coordinator of the same fleet to call (one sharing its store); default the cluster's own.</param>
    public AdminClients(TestCluster cluster, string? address = null)
    {
        var config = ClientConfig.Load(cluster.AdminConf);
        _channel = GrpcChannels.Create(address ?? cluster.Address, config.CaCertificate(), config.ClientCertificate());
        Rollouts = new Protocol.V1.Rollouts.RolloutsClient(_channel);
        Events = new Protocol.V1.Events.EventsClient(_channel);
    }

    public Protocol.V1.Rollouts.RolloutsClient Rollouts { get; }
    public Protocol.V1.Events.EventsClient Events { get; }

    public static NodePlan Plan(string yaml)
    {
        var loaded = PlanLoader.Load(yaml);
        Assert.True(loaded.Succeeded, string.Join('\n', loaded.Errors));
        return loaded.Plan!;
    }

    public async Task<Rollout> WaitForStateAsync(string id, RolloutState state, TimeSpan? timeout = null)
    {
        Rollout? last = null;
        try
        {
            await Proc.WaitUntilAsync(async () =>
            {
                last = await Rollouts.GetAsync(new GetRolloutRequest { Id = id });
                return last.State == state;
            }, timeout ?? TimeSpan.FromSeconds(60), $"rollout {id} to be {state}");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; it is {last?.State}: {last?.StateReason}; nodes: " +
                string.Join(", ", last?.Nodes.Select(n => $"{n.Name} {n.State} {n.Message}") ?? []));
        }
        return last!;
    }

    public Task WaitForNodesAsync(string id, Func<RolloutNode, bool> condition, int count, TimeSpan? timeout = null) =>
        Proc.WaitUntilAsync(async () => (await Rollouts.GetAsync(new GetRolloutRequest { Id = id })).Nodes.Count(condition) >= count,
            timeout ?? TimeSpan.FromSeconds(60), $"{count} node(s) of rollout {id} to reach the expected state");

    public async Task<IReadOnlyList<Event>> RolloutEventsAsync(string id) =>
        (await Events.ListAsync(new WatchEventsRequest { Rollout = id, Limit = 1000 })).Events;

    public void Dispose() => _channel.Dispose();
}
