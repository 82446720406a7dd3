using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.Collections;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Plans;

/// <summary>
/// The canonical bytes of a plan's spec and their SHA-256, which identifies a plan's content (PlanMetadata.digest):
/// equal specs give equal digests however their maps were built.
/// </summary>
public static class PlanCanonical
{
    /// <summary>Lowercase hex SHA-256 of <see cref="Bytes"/>.</summary>
    public static string Digest(NodePlan plan) => Convert.ToHexStringLower(SHA256.HashData(Bytes(plan)));

    /// <summary>
    /// The spec in protobuf binary form with every map's entries in ordinal key order. Google.Protobuf writes fields
    /// in field-number order and repeated fields in list order, but map entries in insertion order; sorting them is
    /// all it takes to make the encoding deterministic. Metadata (name, generation, digest) is not part of it.
    /// </summary>
    public static byte[] Bytes(NodePlan plan)
    {
        var spec = plan.Spec?.Clone() ?? new NodePlanSpec();
        Sort(spec.Timeouts);
        if (spec.Registry is not null) Sort(spec.Registry.Mirrors);
        if (spec.Kubelet is not null) Sort(spec.Kubelet.ExtraArgs);
        return spec.ToByteArray();
    }

    private static void Sort<TValue>(MapField<string, TValue> map)
    {
        var entries = map.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        map.Clear();
        foreach (var (key, value) in entries) map.Add(key, value);
    }
}
