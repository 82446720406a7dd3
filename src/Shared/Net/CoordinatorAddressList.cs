namespace NodeFleet.Net;

/// <summary>
/// A list of coordinator addresses as written in `join`, agent.yaml and coordinator.yaml: HOST[:PORT] entries separated
/// by commas, each as <see cref="GrpcChannels.ToUri"/> reads it (the port defaults to 7443). A DNS name with several
/// addresses is one entry: connecting to it tries each of its addresses in turn, and the coordinators' certificates
/// are checked against the name.
/// </summary>
public static class CoordinatorAddressList
{
    /// <summary>The entries as host:port, in order, duplicates dropped; empty for empty text.</summary>
    /// <exception cref="FormatException">An entry is not HOST[:PORT]; the message names it and its place.</exception>
    public static IReadOnlyList<string> Parse(string? text)
    {
        var list = new List<string>();
        if (string.IsNullOrWhiteSpace(text)) return list;
        var entries = text.Split(',', StringSplitOptions.TrimEntries);
        for (var i = 0; i < entries.Length; i++)
        {
            if (entries[i].Length == 0)
                throw new FormatException($"coordinator address list '{text}': entry {i + 1} is empty");
            string normal;
            try
            {
                var uri = GrpcChannels.ToUri(entries[i]);
                normal = $"{uri.Host}:{uri.Port}";
            }
            catch (FormatException e) when (entries.Length > 1)
            {
                throw new FormatException($"coordinator address list, entry {i + 1}: {e.Message}");
            }
            if (!list.Contains(normal, StringComparer.OrdinalIgnoreCase)) list.Add(normal);
        }
        return list;
    }

    /// <summary>The list as one comma-separated value.</summary>
    public static string Format(IEnumerable<string> addresses) => string.Join(",", addresses);

    /// <summary>
    /// The addresses an agent tries, in order: the fleet's list as last told by a coordinator, then those given at join
    /// that it lacks (so a wrong or stale list from the fleet never leaves the node with nothing it was told to trust).
    /// </summary>
    public static IReadOnlyList<string> Candidates(IReadOnlyList<string> fromFleet, IReadOnlyList<string> fromJoin) =>
        fromFleet.Concat(fromJoin).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
}
