using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

public abstract partial class StoreContractTests
{
    private static CertificateAuthorityRecord Authority(int generation, string state) => new()
    {
        Generation = generation, State = state, CertificatePem = $"cert {generation}", KeyPem = $"key {generation}",
        CreatedAt = new DateTime(2030, 1, generation, 0, 0, 0, DateTimeKind.Utc),
    };

    [Fact]
    public async Task Certificate_authorities_are_kept_by_generation_with_compare_and_swap()
    {
        Assert.Empty(Store.Authorities.List());
        await Store.WriteAsync(s => s.Authorities.Insert(Authority(2, CertificateAuthorityRecord.Next)));
        await Store.WriteAsync(s => s.Authorities.Insert(Authority(1, CertificateAuthorityRecord.Active)));
        await Assert.ThrowsAsync<AlreadyExistsException>(() => Store.WriteAsync(s => s.Authorities.Insert(Authority(1, CertificateAuthorityRecord.Active))));

        var all = Store.Authorities.List();
        Assert.Equal([1, 2], all.Select(a => a.Generation));
        Assert.Equal("key 1", all[0].KeyPem);
        Assert.Equal(1, all[0].Revision);

        var stale = Store.Authorities.List()[1];
        var next = all[1];
        next.State = CertificateAuthorityRecord.Active;
        await Store.WriteAsync(s => s.Authorities.Update(next));
        Assert.Equal(2, next.Revision);
        stale.State = CertificateAuthorityRecord.Previous;
        await Assert.ThrowsAsync<ConflictException>(() => Store.WriteAsync(s => s.Authorities.Update(stale)));
        Assert.Equal(CertificateAuthorityRecord.Active, Store.Authorities.List()[1].State);

        Assert.True(await Store.WriteAsync(s => s.Authorities.Delete(1)));
        Assert.Equal([2], Store.Authorities.List().Select(a => a.Generation));
    }
}
