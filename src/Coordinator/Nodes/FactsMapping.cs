using Google.Protobuf.WellKnownTypes;
using NodeFleet.Coordinator.Store;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>Maps stored records to their wire messages and back.</summary>
public static class FactsMapping
{
    public static FactsRecord ToRecord(NodeFacts? f) => f is null ? new FactsRecord() : new FactsRecord
    {
        Hostname = f.Hostname, Os = f.Os, Kernel = f.Kernel, Arch = f.Arch, RuntimeKind = f.RuntimeKind,
        RuntimeVersion = f.RuntimeVersion, RuntimeEndpoint = f.RuntimeEndpoint, KubeletVersion = f.KubeletVersion,
        CgroupDriver = f.CgroupDriver, AgentVersion = f.AgentVersion, KubeletHostnameOverride = f.KubeletHostnameOverride,
    };

    public static NodeFacts ToMessage(FactsRecord f) => new()
    {
        Hostname = f.Hostname, Os = f.Os, Kernel = f.Kernel, Arch = f.Arch, RuntimeKind = f.RuntimeKind,
        RuntimeVersion = f.RuntimeVersion, RuntimeEndpoint = f.RuntimeEndpoint, KubeletVersion = f.KubeletVersion,
        CgroupDriver = f.CgroupDriver, AgentVersion = f.AgentVersion, KubeletHostnameOverride = f.KubeletHostnameOverride,
    };

    public static Node ToMessage(NodeRecord n)
    {
        var m = new Node
        {
            Name = n.Name,
            Status = n.Status == NodeState.Online ? NodeStatus.Online : NodeStatus.Offline,
            Phase = n.Phase,
            Facts = ToMessage(n.Facts),
            JoinedAt = Ts(n.JoinedAt),
            StatusChangedAt = Ts(n.StatusChangedAt),
            StatusReason = n.StatusReason,
            CertificateSerial = n.CertificateSerial,
            CertificateNotAfter = Ts(n.CertificateNotAfter),
            Address = n.Address,
            JoinedWithToken = n.JoinedWithToken,
            CertificateRenewalError = n.CertificateRenewalError,
        };
        if (n.LastSeen is { } seen) m.LastSeen = Ts(seen);
        if (n.CertificateRenewedAt is { } renewed) m.CertificateRenewedAt = Ts(renewed);
        if (n.RevokedAt is { } revoked) m.RevokedAt = Ts(revoked);
        m.Labels.Add(n.Labels);
        return m;
    }

    public static Event ToMessage(EventRecord e) => new()
    {
        Time = Ts(e.Time), Type = e.Type, Reason = e.Reason, Node = e.Node, Message = e.Message, Rollout = e.Rollout, Actor = e.Actor,
    };

    public static TokenInfo ToMessage(TokenRecord t)
    {
        var m = new TokenInfo
        {
            Id = t.Id,
            UsagesLimit = (uint)t.UsagesLimit,
            UsagesUsed = (uint)t.UsagesUsed,
            Description = t.Description,
            CreatedAt = Ts(t.CreatedAt),
        };
        if (t.ExpiresAt is { } exp) m.ExpiresAt = Ts(exp);
        return m;
    }

    public static Timestamp Ts(DateTime t) => Timestamp.FromDateTime(DateTime.SpecifyKind(t, DateTimeKind.Utc));
}
