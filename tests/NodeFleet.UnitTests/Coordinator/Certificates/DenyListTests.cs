using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Certificates;

/// <summary>When the deny list tells its refresher that open streams must be checked again: a serial newly listed.</summary>
public sealed class DenyListTests
{
    private static RevokedCertificateRecord Revoked(string serial) => new() { Serial = serial, Subject = "n1", Reason = "test" };

    [Fact]
    public void A_new_serial_moves_the_version_on_and_the_same_list_loaded_again_does_not()
    {
        var list = new DenyList();
        var start = list.Version;

        list.Load([]);
        Assert.Equal(start, list.Version);

        list.Load([Revoked("0A")]);
        var one = list.Version;
        Assert.NotEqual(start, one);
        Assert.True(list.IsDenied("0a"));

        // Reloaded unchanged, or added again here: nothing new to check streams against.
        list.Load([Revoked("0A")]);
        list.Add([Revoked("0A")]);
        Assert.Equal(one, list.Version);

        // Listed here first (a revocation on this coordinator), then loaded from the store: moved on once.
        list.Add([Revoked("0B")]);
        var two = list.Version;
        Assert.NotEqual(one, two);
        list.Load([Revoked("0A"), Revoked("0B")]);
        Assert.Equal(two, list.Version);

        // An entry dropped (its certificate expired) is nothing to check streams against either.
        list.Load([Revoked("0B")]);
        Assert.Equal(two, list.Version);
        Assert.False(list.IsDenied("0A"));
    }
}
