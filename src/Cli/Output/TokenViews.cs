using System.Globalization;
using System.Text.Json.Nodes;
using NodeFleet.Config;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Output;

/// <summary>How bootstrap tokens are shown: the list table, the join command and the created-token document.</summary>
public static class TokenViews
{
    public static Table List(IEnumerable<TokenInfo> tokens, DateTimeOffset now)
    {
        var table = new Table("TOKEN ID", "TTL", "EXPIRES", "USES", "DESCRIPTION");
        foreach (var t in tokens)
        {
            // Only the id: the secret is shown once, at creation, and the coordinator does not keep it.
            table.AddRow(t.Id, Ttl(t, now), Expires(t), Uses(t), t.Description.Length == 0 ? "<none>" : t.Description);
        }
        return table;
    }

    /// <summary>Time left: "23h59m", "&lt;forever&gt;" without expiry, "&lt;expired&gt;" once past.</summary>
    public static string Ttl(TokenInfo t, DateTimeOffset now)
    {
        if (TimeText.Value(t.ExpiresAt) is not { } expires) return "<forever>";
        var left = expires - now;
        return left <= TimeSpan.Zero ? "<expired>" : Durations.Format(TimeSpan.FromSeconds(Math.Ceiling(left.TotalSeconds)));
    }

    public static string Expires(TokenInfo t) => TimeText.Value(t.ExpiresAt) is { } e ? TimeText.Rfc3339(e) : "<never>";

    public static string Uses(TokenInfo t) => t.UsagesLimit == 0
        ? $"{t.UsagesUsed.ToString(CultureInfo.InvariantCulture)}/unlimited"
        : $"{t.UsagesUsed.ToString(CultureInfo.InvariantCulture)}/{t.UsagesLimit.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The line to run on a new node, as kubeadm's --print-join-command prints it.</summary>
    public static string JoinCommand(CreateTokenResponse r, string fallbackAddress) =>
        $"nodefleet-agent join --token {r.Token} --ca-cert-hash {r.CaCertHash} " +
        (string.IsNullOrEmpty(r.AdvertiseAddress) ? fallbackAddress : r.AdvertiseAddress);

    /// <summary>
    /// The created token as a document: the token itself first, then its TokenInfo fields, then what a script
    /// needs to build a join command (CA hash and advertise address).
    /// </summary>
    public static JsonObject Created(CreateTokenResponse r)
    {
        var doc = new JsonObject { ["token"] = r.Token };
        var info = Formats.ToNode(r.Info ?? new TokenInfo());
        foreach (var (key, value) in info.ToList())
        {
            info.Remove(key);
            doc[key] = value;
        }
        doc["caCertHash"] = r.CaCertHash;
        doc["advertiseAddress"] = r.AdvertiseAddress;
        return doc;
    }
}
