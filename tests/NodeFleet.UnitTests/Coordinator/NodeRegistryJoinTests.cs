using Grpc.Core;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class NodeRegistryJoinTests : IAsyncLifetime
{
    private readonly CoordinatorRig _rig = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _rig.DisposeAsync().AsTask();

    private NodeRegistry Registry => _rig.Registry;

    private int UsagesUsed(string token) => _rig.Store.Tokens.Get(token[..6])!.UsagesUsed;

    [Fact]
    public async Task Join_issues_a_node_certificate_persists_the_node_and_uses_the_token()
    {
        var token = await _rig.CreateTokenAsync(usages: 5);
        var (cert, key) = await _rig.JoinAsync(token, "node-1", new Dictionary<string, string> { ["role"] = "worker" });
        using var _ = key;

        Assert.Equal(("node-1", (string?)Roles.Nodes), Pki.ReadSubject(cert));
        Assert.True(_rig.Ca.Trusts(cert));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), cert.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(1, UsagesUsed(token));

        var node = Registry.Get("node-1");
        Assert.Equal("worker", node.Labels["role"]);
        Assert.Equal("Test OS", node.Facts.Os);
        Assert.Equal(token[..6], node.JoinedWithToken);
        Assert.Equal("10.0.0.9:50000", node.Address);
        Assert.Equal(cert.SerialNumber, node.CertificateSerial);
        Assert.Equal(NodeRegistry.Fingerprint(cert), node.CertificateFingerprint);
        Assert.Equal(NodeState.Offline, node.Status);
        Assert.Equal("Joined", Assert.Single(Registry.Events("node-1", 10)).Reason);
    }

    [Fact]
    public async Task Wrong_secret_is_refused_and_uses_nothing()
    {
        var token = await _rig.CreateTokenAsync(given: "abcdef.0123456789abcdef");
        var e = await Edge.ThrowsAsync(() => _rig.JoinAsync("abcdef.0123456789abcdeg", "node-1"));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("secret does not match", e.Status.Detail);
        Assert.Equal(0, UsagesUsed(token));
        Assert.Empty(Registry.List(NodeFleet.Labels.LabelSelector.Everything));
    }

    [Fact]
    public async Task Unknown_expired_or_malformed_tokens_are_refused()
    {
        var unknown = await Edge.ThrowsAsync(() => _rig.JoinAsync("zzzzzz.0123456789abcdef", "node-1"));
        Assert.Equal(StatusCode.PermissionDenied, unknown.StatusCode);

        var token = await _rig.CreateTokenAsync(ttl: TimeSpan.FromHours(1));
        _rig.Time.Advance(TimeSpan.FromHours(2));
        var expired = await Edge.ThrowsAsync(() => _rig.JoinAsync(token, "node-1"));
        Assert.Contains("expired", expired.Status.Detail);

        var malformed = await Edge.ThrowsAsync(() => _rig.JoinAsync("nope", "node-1"));
        Assert.Equal(StatusCode.InvalidArgument, malformed.StatusCode);
    }

    [Fact]
    public async Task Name_held_by_another_key_is_refused()
    {
        var token = await _rig.CreateTokenAsync();
        var (first, k1) = await _rig.JoinAsync(token, "node-1");
        k1.Dispose();
        var e = await Edge.ThrowsAsync(() => _rig.JoinAsync(token, "node-1"));
        Assert.Equal(StatusCode.AlreadyExists, e.StatusCode);
        Assert.Contains("already held by another key", e.Status.Detail);
        Assert.Equal(NodeRegistry.Fingerprint(first), Registry.Get("node-1").CertificateFingerprint);
        Assert.Equal(1, UsagesUsed(token));
    }

    [Fact]
    public async Task Rejoin_with_the_same_key_is_allowed_and_replaces_the_certificate()
    {
        var token = await _rig.CreateTokenAsync();
        using var key = Pki.NewKey();
        var first = await Registry.JoinAsync(CoordinatorRig.JoinRequest(token, "node-1", key,
            new Dictionary<string, string> { ["role"] = "worker" }), "10.0.0.1:1");
        _rig.Time.Advance(TimeSpan.FromMinutes(1));
        var second = await Registry.JoinAsync(CoordinatorRig.JoinRequest(token, "node-1", key,
            new Dictionary<string, string> { ["zone"] = "a" }), "10.0.0.2:2");

        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        var node = Registry.Get("node-1");
        Assert.Equal(second.SerialNumber, node.CertificateSerial);
        Assert.Equal("10.0.0.2:2", node.Address);
        Assert.Equal("worker", node.Labels["role"]); // labels given at join are added, not replaced
        Assert.Equal("a", node.Labels["zone"]);
        Assert.Equal(2, UsagesUsed(token));
        Assert.Equal(["Joined", "Rejoined"], Registry.Events("node-1", 10).Select(e => e.Reason));

        // Only the newest certificate may act as the node.
        Assert.Equal("node-1", Registry.Authenticate("node-1", second).Name);
        var old = Edge.Throws(() => Registry.Authenticate("node-1", first));
        Assert.Equal(StatusCode.PermissionDenied, old.StatusCode);
    }

    [Theory]
    [InlineData("Node_1")]
    [InlineData("")]
    [InlineData("-node")]
    [InlineData("node-1\n")]
    public async Task Invalid_node_name_is_an_invalid_argument(string name)
    {
        var token = await _rig.CreateTokenAsync();
        using var key = Pki.NewKey();
        var request = CoordinatorRig.JoinRequest(token, "node-1", key);
        request.NodeName = name;
        var e = await Edge.ThrowsAsync(() => Registry.JoinAsync(request, "10.0.0.1:1"));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("node name", e.Status.Detail);
        Assert.Equal(0, UsagesUsed(token));
    }

    [Theory]
    [InlineData("-role", "worker")]
    [InlineData("role", "wor ker")]
    [InlineData("Bad.Prefix/role", "x")]
    public async Task Invalid_label_is_an_invalid_argument(string key, string value)
    {
        var token = await _rig.CreateTokenAsync();
        var e = await Edge.ThrowsAsync(() =>
            _rig.JoinAsync(token, "node-1", new Dictionary<string, string> { [key] = value }));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("label", e.Status.Detail);
        Assert.Equal(0, UsagesUsed(token));
    }

    [Fact]
    public async Task Invalid_csr_is_an_invalid_argument()
    {
        var token = await _rig.CreateTokenAsync();
        using var key = Pki.NewKey();
        var request = CoordinatorRig.JoinRequest(token, "node-1", key);
        request.CsrPem = "garbage";
        var e = await Edge.ThrowsAsync(() => Registry.JoinAsync(request, "10.0.0.1:1"));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("signing request", e.Status.Detail);
    }

    [Fact]
    public async Task Single_use_token_refuses_a_second_join()
    {
        var token = await _rig.CreateTokenAsync(usages: 1);
        (await _rig.JoinAsync(token, "node-1")).Key.Dispose();
        var e = await Edge.ThrowsAsync(() => _rig.JoinAsync(token, "node-2"));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("no uses left", e.Status.Detail);
        Assert.Equal(1, UsagesUsed(token));
        Edge.Throws(() => Registry.Get("node-2"));
    }

    [Fact]
    public async Task Authenticate_accepts_the_issued_certificate_until_the_node_is_deleted()
    {
        var token = await _rig.CreateTokenAsync();
        var (cert, key) = await _rig.JoinAsync(token, "node-1");
        key.Dispose();
        Assert.Equal("node-1", Registry.Authenticate("node-1", cert).Name);

        await Registry.DeleteAsync("node-1");
        var e = Edge.Throws(() => Registry.Authenticate("node-1", cert));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("not registered", e.Status.Detail);
        Assert.Contains(Registry.Events("node-1", 10), ev => ev.Reason == "Deleted");

        var again = await Edge.ThrowsAsync(() => Registry.DeleteAsync("node-1"));
        Assert.Equal(StatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task Authenticate_refuses_another_nodes_certificate()
    {
        var token = await _rig.CreateTokenAsync();
        var (c1, k1) = await _rig.JoinAsync(token, "node-1");
        var (c2, k2) = await _rig.JoinAsync(token, "node-2");
        k1.Dispose();
        k2.Dispose();
        var e = Edge.Throws(() => Registry.Authenticate("node-1", c2));
        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Equal("node-2", Registry.Authenticate("node-2", c2).Name);
        Assert.Equal("node-1", Registry.Authenticate("node-1", c1).Name);
    }

    [Fact]
    public async Task Deleted_name_can_be_joined_again_by_another_key()
    {
        var token = await _rig.CreateTokenAsync();
        (await _rig.JoinAsync(token, "node-1")).Key.Dispose();
        // A plan waiting for the machine that was deleted is not delivered to the one that joins under its name.
        for (var i = 0; i < 150; i++) await _rig.Store.Outbox.EnqueueAsync("node-1", [1]);
        await _rig.Store.Outbox.EnqueueAsync("node-2", [2]);
        await Registry.DeleteAsync("node-1");
        Assert.Empty(await _rig.Store.Outbox.PendingAsync("node-1", 10));
        Assert.Single(await _rig.Store.Outbox.PendingAsync("node-2", 10));
        var (cert, key) = await _rig.JoinAsync(token, "node-1");
        key.Dispose();
        Assert.Equal("node-1", Registry.Authenticate("node-1", cert).Name);
    }
}
