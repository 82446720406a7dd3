using NodeFleet.Coordinator.Store.LiteDb;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Labels;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>
/// A coordinator that starts while its nodes reconnect reads and writes node records from many threads at once,
/// as the first thing its new store (with its own, still empty, LiteDB mapper) does.
/// </summary>
public sealed class CoordinatorStoreStartupRaceTests
{
    private const int Nodes = 16;

    [Fact]
    public async Task First_concurrent_uses_of_a_freshly_opened_store_neither_fail_nor_lose_fields()
    {
        await using var rig = new CoordinatorRig();
        var token = await rig.CreateTokenAsync();
        var certs = new List<X509Certificate2>();
        for (var i = 0; i < Nodes; i++)
        {
            var (cert, key) = await rig.JoinAsync(token, $"node-{i}");
            key.Dispose();
            certs.Add(cert);
        }
        await rig.Store.DisposeAsync();

        var failures = new List<string>();
        try
        {
            for (var round = 0; round < 10 && failures.Count == 0; round++)
            {
                // As at coordinator start: a new store, then every agent reconnecting at once.
                await using var store = new LiteDbStore(rig.DatabasePath);
                var registry = new NodeRegistry(store, new TokenService(store, rig.Time), rig.Ca, new EventBus(), rig.Time,
                    NullLogger<NodeRegistry>.Instance);
                var writes = new Task?[Nodes];
                using var go = new Barrier(Nodes);
                var threads = Enumerable.Range(0, Nodes).Select(i => new Thread(() =>
                {
                    go.SignalAndWait();
                    try
                    {
                        registry.Authenticate($"node-{i}", certs[i]);
                        writes[i] = registry.MarkOnlineAsync($"node-{i}", null, "10.0.0.1:1");
                    }
                    catch (Exception e)
                    {
                        lock (failures) failures.Add($"round {round}, node-{i}: {e.GetType().Name}: {e.Message}");
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                for (var i = 0; i < Nodes; i++)
                {
                    try { await (writes[i] ?? Task.CompletedTask); }
                    catch (Exception e) { failures.Add($"round {round}, node-{i} online: {e.GetType().Name}: {e.Message}"); }
                }
                foreach (var n in registry.List(LabelSelector.Everything))
                {
                    if (n.CertificateFingerprint.Length == 0 || n.PublicKeySha256.Length == 0 || n.Facts.Os.Length == 0)
                        failures.Add($"round {round}: {n.Name} lost fields");
                }
            }
        }
        finally
        {
            certs.ForEach(c => c.Dispose());
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(8)));
    }
}
