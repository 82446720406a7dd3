using NodeFleet.Coordinator.Store;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>The contract for the certificate deny list and the certificate fields of nodes.</summary>
public abstract partial class StoreContractTests
{
    private static readonly DateTime T0 = new(2030, 3, 1, 12, 0, 0, DateTimeKind.Utc);

    private static RevokedCertificateRecord Revoked(string serial, string subject, DateTime notAfter) => new()
    {
        Serial = serial, Subject = subject, Role = "nodefleet:nodes", RevokedAt = T0, NotAfter = notAfter, Reason = "revoked by the operator",
    };

    [Fact]
    public async Task Revoked_certificates_are_listed_once_by_serial_and_dropped_after_they_expire()
    {
        Assert.True(await Store.WriteAsync(s => s.Revocations.Add(Revoked("0B12", "w1", T0.AddDays(30)))));
        Assert.True(await Store.WriteAsync(s => s.Revocations.Add(Revoked("0A99", "w2", T0.AddDays(1)))));
        // The same serial again changes nothing, and fails nothing: a revocation may be repeated.
        Assert.False(await Store.WriteAsync(s => s.Revocations.Add(Revoked("0B12", "other", T0))));

        Assert.Equal(["0A99", "0B12"], Store.Revocations.List().Select(r => r.Serial));
        var w1 = Store.Revocations.Get("0B12")!;
        Assert.Equal(("w1", "nodefleet:nodes", T0, T0.AddDays(30), "revoked by the operator"),
            (w1.Subject, w1.Role, w1.RevokedAt, w1.NotAfter, w1.Reason));
        Assert.Null(Store.Revocations.Get("0C00"));

        Assert.Equal(1, await Store.WriteAsync(s => s.Revocations.DeleteExpiredBefore(T0.AddDays(2))));
        Assert.Equal(["0B12"], Store.Revocations.List().Select(r => r.Serial));
    }

    [Fact]
    public async Task Nodes_are_counted_by_certificate_expiry_and_revoked_nodes_are_not()
    {
        await Store.WriteAsync(s =>
        {
            s.Nodes.Insert(new NodeRecord { Name = "soon", CertificateSerial = "01", CertificateNotAfter = T0.AddDays(3) });
            s.Nodes.Insert(new NodeRecord { Name = "later", CertificateSerial = "02", CertificateNotAfter = T0.AddDays(20) });
            s.Nodes.Insert(new NodeRecord { Name = "expired", CertificateSerial = "03", CertificateNotAfter = T0.AddDays(-1) });
            s.Nodes.Insert(new NodeRecord { Name = "revoked", CertificateSerial = "04", CertificateNotAfter = T0.AddDays(1), RevokedAt = T0 });
        });
        Assert.Equal(2, Store.Nodes.CountCertificatesExpiringBefore(T0.AddDays(7)));
        Assert.Equal(3, Store.Nodes.CountCertificatesExpiringBefore(T0.AddDays(30)));

        var n = Store.Nodes.Get("later")!;
        n.PreviousCertificateSerial = "02";
        n.CertificateSerial = "05";
        n.CertificateRenewedAt = T0;
        n.CertificateRenewalError = "";
        await Store.WriteAsync(s => s.Nodes.Update(n));
        var read = Store.Nodes.Get("later")!;
        Assert.Equal(("02", "05", (DateTime?)T0, (DateTime?)null), (read.PreviousCertificateSerial, read.CertificateSerial, read.CertificateRenewedAt, read.RevokedAt));
    }
}
