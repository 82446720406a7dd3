using Grpc.Core;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Services;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class NodeRegistryConcurrencyTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    [Fact]
    public async Task Concurrent_joins_never_exceed_the_token_usages()
    {
        var token = await _rig.CreateTokenAsync(usages: 50);
        var keys = Enumerable.Range(0, 200).Select(_ => Pki.NewKey()).ToList();
        var requests = keys.Select((k, i) => CoordinatorRig.JoinRequest(token, $"node-{i}", k)).ToList();
        using var start = new ManualResetEventSlim();

        var attempts = requests.Select(r => Task.Run(async () =>
        {
            start.Wait();
            try
            {
                await _rig.Registry.JoinAsync(r, "10.0.0.1:1");
                return (StatusCode?)null;
            }
            catch (DomainException e) { return DomainErrorInterceptor.ToRpc(e).StatusCode; }
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(attempts);
        keys.ForEach(k => k.Dispose());

        Assert.Equal(50, results.Count(r => r is null));
        Assert.All(results.Where(r => r is not null), r => Assert.Equal(StatusCode.PermissionDenied, r));
        Assert.Equal(50, _rig.Store.Tokens.Get(token[..6])!.UsagesUsed);
        Assert.Equal(50, _rig.Store.Nodes.Count());
        Assert.Equal(50, _rig.Store.Events.Newest(new EventQuery(1000)).Count);

        await _rig.ReopenAsync();
        Assert.Equal(50, _rig.Store.Tokens.Get(token[..6])!.UsagesUsed);
        Assert.Equal(50, _rig.Store.Nodes.Count());
    }

    [Fact]
    public async Task Concurrent_joins_under_one_name_leave_one_owner()
    {
        var token = await _rig.CreateTokenAsync();
        var keys = Enumerable.Range(0, 20).Select(_ => Pki.NewKey()).ToList();
        var results = await Task.WhenAll(keys.Select(k => Task.Run(async () =>
        {
            try { return await _rig.Registry.JoinAsync(CoordinatorRig.JoinRequest(token, "node-1", k), "10.0.0.1:1"); }
            catch (AlreadyExistsException) { return null; }
        })));
        keys.ForEach(k => k.Dispose());

        var winner = Assert.Single(results, r => r is not null)!;
        Assert.Equal("node-1", _rig.Registry.Authenticate("node-1", winner).Name);
        Assert.Equal(1, _rig.Store.Tokens.Get(token[..6])!.UsagesUsed);
    }
}
