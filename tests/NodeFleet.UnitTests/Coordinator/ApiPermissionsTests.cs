using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.Reflection;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Tests.Coordinator;

/// <summary>The table of who may call what, the operator roles in certificates, and the actor carried into store writes.</summary>
public sealed class ApiPermissionsTests
{
    /// <summary>Every service the coordinator's protocol defines, and the health service it also serves.</summary>
    private static IEnumerable<ServiceDescriptor> Services() =>
        typeof(Fleet).Assembly.GetTypes()
            .Select(t => t.GetProperty("Descriptor", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(p => p?.PropertyType == typeof(ServiceDescriptor))
            .Select(p => (ServiceDescriptor)p!.GetValue(null)!)
            .Append(Grpc.Health.V1.Health.Descriptor);

    private static IEnumerable<string> Methods() =>
        Services().SelectMany(s => s.Methods.Select(m => $"/{s.FullName}/{m.Name}"));

    [Fact]
    public void Every_method_of_every_service_has_a_row_and_every_row_a_method()
    {
        var methods = Methods().ToList();
        Assert.Contains("/nodefleet.v1.Admins/Revoke", methods);
        Assert.Contains("/nodefleet.v1.Rollouts/Start", methods);
        Assert.Equal([], methods.Where(m => ApiPermissions.For(m) is null).ToList());
        Assert.Empty(ApiPermissions.Table.Keys.Except(methods));
        // An operator row says what it refuses, for the message.
        Assert.All(ApiPermissions.Table.Values.Where(p => p.Kind == Permission.OperatorKind), p => Assert.NotEmpty(p.Action));
    }

    [Fact]
    public void A_method_not_in_the_table_is_refused() => Assert.Null(ApiPermissions.For("/nodefleet.v1.Fleet/SomethingNew"));

    [Theory]
    [InlineData("/nodefleet.v1.Fleet/ListNodes", OperatorRole.Viewer)]
    [InlineData("/nodefleet.v1.Events/Watch", OperatorRole.Viewer)]
    [InlineData("/nodefleet.v1.Rollouts/Start", OperatorRole.Operator)]
    [InlineData("/nodefleet.v1.Fleet/LabelNode", OperatorRole.Operator)]
    [InlineData("/nodefleet.v1.Fleet/CreateToken", OperatorRole.Admin)]
    [InlineData("/nodefleet.v1.Fleet/RevokeNode", OperatorRole.Admin)]
    [InlineData("/nodefleet.v1.Clusters/Add", OperatorRole.Admin)]
    [InlineData("/nodefleet.v1.Admins/Issue", OperatorRole.Admin)]
    public void Methods_need_their_role(string method, OperatorRole role)
    {
        var permission = ApiPermissions.For(method)!;
        Assert.Equal((Permission.OperatorKind, role), (permission.Kind, permission.MinimumRole));
    }

    [Fact]
    public void The_role_is_read_from_the_OU_and_a_certificate_without_one_is_an_admin()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "ca", TimeSpan.FromDays(1), now);
        using var key = Pki.NewKey();
        using var viewer = Pki.IssueClient(ca, caKey, new PublicKey(key), "alice", Roles.Admins, TimeSpan.FromDays(1), now, OperatorRoles.Viewer);
        using var legacy = Pki.IssueClient(ca, caKey, new PublicKey(key), "admin", Roles.Admins, TimeSpan.FromDays(1), now);
        using var odd = Pki.IssueClient(ca, caKey, new PublicKey(key), "eve", Roles.Admins, TimeSpan.FromDays(1), now, "root");
        using var node = Pki.IssueClient(ca, caKey, new PublicKey(key), "w1", Roles.Nodes, TimeSpan.FromDays(1), now);

        Assert.Equal(OperatorRole.Viewer, new CallerIdentity("alice", Roles.Admins, viewer).OperatorRole);
        Assert.Equal(("alice", (string?)Roles.Admins), Pki.ReadSubject(viewer));
        Assert.Equal(OperatorRole.Admin, new CallerIdentity("admin", Roles.Admins, legacy).OperatorRole);
        Assert.Null(new CallerIdentity("eve", Roles.Admins, odd).OperatorRole);
        Assert.Null(new CallerIdentity("w1", Roles.Nodes, node).OperatorRole);
        Assert.Equal("node/w1", new CallerIdentity("w1", Roles.Nodes, node).Actor);
        Assert.Equal("alice", new CallerIdentity("alice", Roles.Admins, viewer).Actor);
    }

    [Fact]
    public async Task An_event_recorded_in_a_LiteDB_write_carries_the_callers_actor_and_otherwise_the_coordinator()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nodefleet-actor-{Guid.NewGuid():N}.db");
        try
        {
            using var store = LiteDbStore.Open(path);
            var bus = new EventBus();
            Actor.Set("alice");
            await store.WriteAsync(s => s.AddEvent(bus, new EventRecord { Time = DateTime.UtcNow, Reason = "ByAlice" }));
            Actor.Set(null);
            await store.WriteAsync(s => s.AddEvent(bus, new EventRecord { Time = DateTime.UtcNow, Reason = "Decided" }));
            Assert.Equal(["alice", Actor.Coordinator], store.Events.Newest(new EventQuery(10)).Select(e => e.Actor));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
