using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>`nodefleet admin list`: NAME, ROLE, SERIAL, EXPIRES, REVOKED, ISSUED BY.</summary>
public static class AdminViews
{
    public static Table List(IEnumerable<OperatorCertificate> certificates, DateTimeOffset now)
    {
        var table = new Table(["NAME", "ROLE", "SERIAL", "EXPIRES", "REVOKED", "ISSUED BY"]);
        foreach (var c in certificates)
        {
            var expires = TimeText.Value(c.ExpiresAt);
            var expiresText = expires is null ? TimeText.None
                : expires <= now ? $"expired {TimeText.Age(expires.Value, now)} ago" : $"in {TimeText.Age(now, expires.Value)}";
            table.AddRow([c.Name, c.Role, c.Serial, expiresText, TimeText.Ago(c.RevokedAt, now), c.IssuedBy.Length > 0 ? c.IssuedBy : TimeText.None]);
        }
        return table;
    }
}
