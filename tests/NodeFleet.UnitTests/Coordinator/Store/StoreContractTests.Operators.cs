using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The contract for operator certificates and for the actor of events.</summary>
public abstract partial class StoreContractTests
{
    private static readonly DateTime O0 = new(2030, 4, 1, 8, 0, 0, DateTimeKind.Utc);

    private static OperatorCertificateRecord OperatorCertificate(string serial, string name, string role, DateTime issuedAt) => new()
    {
        Serial = serial, Name = name, Role = role, IssuedAt = issuedAt, ExpiresAt = issuedAt.AddDays(30), IssuedBy = "admin",
    };

    [Fact]
    public async Task Operator_certificates_are_listed_oldest_first_found_by_name_and_marked_revoked_in_place()
    {
        await Store.WriteAsync(s =>
        {
            s.OperatorCertificates.Put(OperatorCertificate("0B", "alice", "viewer", O0.AddHours(1)));
            s.OperatorCertificates.Put(OperatorCertificate("0A", "admin", "admin", O0));
            s.OperatorCertificates.Put(OperatorCertificate("0C", "alice", "operator", O0.AddHours(2)));
        });
        Assert.Equal(["0A", "0B", "0C"], Store.OperatorCertificates.List().Select(c => c.Serial));
        Assert.Equal(["0B", "0C"], Store.OperatorCertificates.Named("alice").Select(c => c.Serial));
        Assert.Empty(Store.OperatorCertificates.Named("bob"));

        var alice = Store.OperatorCertificates.Named("alice")[1];
        Assert.Equal(("operator", O0.AddHours(2), O0.AddHours(2).AddDays(30), (DateTime?)null, "admin"),
            (alice.Role, alice.IssuedAt, alice.ExpiresAt, alice.RevokedAt, alice.IssuedBy));
        alice.RevokedAt = O0.AddHours(3);
        await Store.WriteAsync(s => s.OperatorCertificates.Put(alice));
        Assert.Equal(3, Store.OperatorCertificates.List().Count);
        Assert.Equal(O0.AddHours(3), Store.OperatorCertificates.Named("alice")[1].RevokedAt);
    }

    [Fact]
    public async Task Operator_certificates_keep_the_ca_generation_that_issued_them()
    {
        var renewed = OperatorCertificate("0E", "dave", "admin", O0.AddHours(1));
        renewed.CaGeneration = 2;
        await Store.WriteAsync(s =>
        {
            s.OperatorCertificates.Put(OperatorCertificate("0D", "dave", "admin", O0));
            s.OperatorCertificates.Put(renewed);
        });
        Assert.Equal([("0D", 0), ("0E", 2)], Store.OperatorCertificates.Named("dave").Select(c => (c.Serial, c.CaGeneration)));

        renewed.CaGeneration = 3;
        await Store.WriteAsync(s => s.OperatorCertificates.Put(renewed));
        Assert.Equal(3, Store.OperatorCertificates.Named("dave")[1].CaGeneration);
    }

    [Fact]
    public async Task Events_keep_their_actor()
    {
        await Store.WriteAsync(s =>
        {
            s.Events.Add(new EventRecord { Time = O0, Reason = "RolloutStarted", Rollout = "r1", Message = "m", Actor = "alice" });
            s.Events.Add(new EventRecord { Time = O0, Reason = "Online", Node = "w1", Message = "m", Actor = "node/w1" });
            s.Events.Add(new EventRecord { Time = O0, Reason = "Old", Message = "m" });
        });
        Assert.Equal(["alice", "node/w1", ""],
            Store.Events.Newest(new EventQuery(10)).Select(e => e.Actor));
    }
}
