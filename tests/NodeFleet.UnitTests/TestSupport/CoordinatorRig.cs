using NodeFleet.Coordinator.Store.LiteDb;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Tests.TestSupport;

/// <summary>The coordinator's node and token logic over a real LiteDB file in a temp directory, with a manual clock.</summary>
public sealed class CoordinatorRig : IAsyncDisposable
{
    private readonly TempDir _dir = new();
    private readonly ECDsa _caKey = Pki.NewKey();
    private readonly X509Certificate2 _caCert;

    public CoordinatorRig()
    {
        _caCert = Pki.CreateCa(_caKey, "nodefleet-ca", TimeSpan.FromDays(3650), Time.Now);
        Ca = new CertificateAuthority(_caCert, _caKey, Time);
        Open();
    }

    public ManualTime Time { get; } = new();
    public string DatabasePath => _dir.File(LiteDbStore.FileName);
    public string Directory => _dir.Path;
    public CertificateAuthority Ca { get; }
    public ICoordinatorStore Store { get; private set; } = null!;
    public TokenService Tokens { get; private set; } = null!;
    public NodeRegistry Registry { get; private set; } = null!;
    /// <summary>Where the registry publishes its committed events.</summary>
    public EventBus Events { get; } = new();

    private void Open()
    {
        Store = new LiteDbStore(DatabasePath);
        Tokens = new TokenService(Store, Time);
        Registry = new NodeRegistry(Store, Tokens, Ca, Events, Time, NullLogger<NodeRegistry>.Instance);
        WarmUp(Store);
    }

    /// <summary>
    /// LiteDB 5.0.21 finishes mapping a record type on its first (de)serialisation and lets other threads use the
    /// half-done mapping meanwhile (litedb-org/LiteDB#2536, #2565); each store has its own mapper. One
    /// single-threaded round trip of every record type first keeps the concurrency tests about the coordinator's
    /// own logic. <see cref="Coordinator.CoordinatorStoreStartupRaceTests"/> shows the race on a cold store.
    /// </summary>
    private static void WarmUp(ICoordinatorStore store) => store.WriteAsync(s =>
    {
        const string probe = "warm-up.invalid";
        s.Nodes.Insert(new NodeRecord { Name = probe, Labels = { ["k"] = "v" } });
        s.Nodes.Get(probe);
        s.Nodes.Delete(probe);
        s.Tokens.Insert(new TokenRecord { Id = probe });
        s.Tokens.Get(probe);
        s.Tokens.Delete(probe);
    }).GetAwaiter().GetResult();

    /// <summary>Closes the database and opens the same file again, as a coordinator restart does.</summary>
    public async Task ReopenAsync()
    {
        await Store.DisposeAsync();
        Open();
    }

    public async Task<string> CreateTokenAsync(int usages = 0, TimeSpan? ttl = null, string? given = null) =>
        (await Tokens.CreateAsync(given, ttl, usages, "test")).Token.ToString();

    public static JoinRequest JoinRequest(string token, string name, ECDsa key, IDictionary<string, string>? labels = null)
    {
        var r = new JoinRequest
        {
            Token = token,
            NodeName = name,
            CsrPem = Pki.CreateCsrPem(key, name),
            Facts = new NodeFacts { Hostname = name, Os = "Test OS", Arch = "amd64" },
        };
        if (labels is not null) r.Labels.Add(labels);
        return r;
    }

    /// <summary>Joins a node with a fresh key, returning the certificate and the key.</summary>
    public async Task<(X509Certificate2 Cert, ECDsa Key)> JoinAsync(string token, string name,
        IDictionary<string, string>? labels = null)
    {
        var key = Pki.NewKey();
        var cert = await Registry.JoinAsync(JoinRequest(token, name, key, labels), "10.0.0.9:50000");
        return (cert, key);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        _caCert.Dispose();
        _caKey.Dispose();
        _dir.Dispose();
    }
}
