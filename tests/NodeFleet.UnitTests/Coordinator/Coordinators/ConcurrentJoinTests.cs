using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store.Postgres;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Coordinators;

/// <summary>
/// A fleet joining at once with one token through two coordinators on one real PostgreSQL: the token's use count moves
/// on by compare-and-swap, and a join that lost the race reads it again instead of being refused.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class ConcurrentJoinTests(PostgresServer server)
{
    [Fact]
    public async Task Nodes_joining_at_once_with_one_token_through_two_coordinators_all_join_and_each_use_is_counted()
    {
        var setting = (await server.CreateDatabaseAsync()).Setting;
        await using var storeA = await PostgresStore.OpenAsync(setting);
        await using var storeB = await PostgresStore.OpenAsync(setting);
        using var caKey = Pki.NewKey();
        using var caCert = Pki.CreateCa(caKey, "nodefleet-ca", TimeSpan.FromDays(3650), DateTime.UtcNow);
        var ca = new CertificateAuthority(caCert, caKey, TimeProvider.System);
        NodeRegistry Registry(PostgresStore store) => new(store, new TokenService(store, TimeProvider.System), ca, new EventBus(),
            TimeProvider.System, NullLogger<NodeRegistry>.Instance);
        NodeRegistry[] registries = [Registry(storeA), Registry(storeB)];
        var token = (await new TokenService(storeA, TimeProvider.System).CreateAsync(null, null, 0, "test")).Token.ToString();

        const int nodes = 16;
        var keys = Enumerable.Range(0, nodes).Select(_ => Pki.NewKey()).ToList();
        using var start = new ManualResetEventSlim();
        var joins = keys.Select((k, i) => Task.Run(async () =>
        {
            start.Wait();
            await registries[i % 2].JoinAsync(CoordinatorRig.JoinRequest(token, $"node-{i}", k), "10.0.0.1:1");
        })).ToList();
        start.Set();
        await Task.WhenAll(joins);
        keys.ForEach(k => k.Dispose());

        Assert.Equal(nodes, storeB.Tokens.Get(token[..6])!.UsagesUsed);
        Assert.Equal(nodes, storeB.Nodes.Count());
    }
}
