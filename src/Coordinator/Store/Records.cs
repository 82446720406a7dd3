namespace NodeFleet.Coordinator.Store;

/// <summary>A record updated by compare-and-swap on its revision, which every update moves on by one.</summary>
public interface IRevisioned
{
    long Revision { get; set; }
}

/// <summary>A bootstrap token as stored: never the secret, only its hash and the derived discovery key.</summary>
public sealed class TokenRecord : IRevisioned
{
    /// <summary>Moved on by every update (compare-and-swap); 0 in records stored before revisions were kept.</summary>
    public long Revision { get; set; }
    public string Id { get; set; } = "";
    public string SecretHash { get; set; } = "";
    public byte[] DiscoveryKey { get; set; } = [];
    public DateTime CreatedAt { get; set; }
    public DateTime? ExpiresAt { get; set; }
    public int UsagesLimit { get; set; }
    public int UsagesUsed { get; set; }
    public string Description { get; set; } = "";
    /// <summary>Joins refused for a wrong secret under this id; at <c>TokenService.LockAfterFailures</c> the token is locked.</summary>
    public int FailedAttempts { get; set; }
    /// <summary>Set when the token was locked after repeated wrong secrets: no join may use it again.</summary>
    public DateTime? LockedAt { get; set; }
}

/// <summary>What an agent reported about its machine.</summary>
public sealed class FactsRecord
{
    public string Hostname { get; set; } = "";
    public string Os { get; set; } = "";
    public string Kernel { get; set; } = "";
    public string Arch { get; set; } = "";
    public string RuntimeKind { get; set; } = "";
    public string RuntimeVersion { get; set; } = "";
    public string RuntimeEndpoint { get; set; } = "";
    public string KubeletVersion { get; set; } = "";
    public string CgroupDriver { get; set; } = "";
    public string AgentVersion { get; set; } = "";
    /// <summary>The kubelet's --hostname-override, "" when it sets none.</summary>
    public string KubeletHostnameOverride { get; set; } = "";
}

public enum NodeState { Offline = 0, Online = 1 }

/// <summary>A joined node and the certificate it was issued.</summary>
public sealed class NodeRecord
{
    /// <summary>Moved on by every update (compare-and-swap); 0 in records stored before revisions were kept.</summary>
    public long Revision { get; set; }
    public string Name { get; set; } = "";
    public Dictionary<string, string> Labels { get; set; } = new();
    public FactsRecord Facts { get; set; } = new();
    public NodeState Status { get; set; }
    public string StatusReason { get; set; } = "";
    public DateTime StatusChangedAt { get; set; }
    public DateTime JoinedAt { get; set; }
    public DateTime? LastSeen { get; set; }
    public string Phase { get; set; } = "";
    public string Address { get; set; } = "";
    /// <summary>The coordinator (<c>CoordinatorRecord.Id</c>) that last opened the node's stream; "" before there were several.</summary>
    public string Coordinator { get; set; } = "";
    public string JoinedWithToken { get; set; } = "";
    public string CertificateSerial { get; set; } = "";
    public DateTime CertificateNotAfter { get; set; }
    /// <summary>SHA-256 of the DER certificate: only this exact certificate may act as the node.</summary>
    public string CertificateFingerprint { get; set; } = "";
    /// <summary>The generation of the fleet CA that issued the current certificate; 0 (before CA rotations existed): 1.</summary>
    public int CaGeneration { get; set; }
    /// <summary>The hash of the trust bundle the agent last said it stored (a CA rotation's progress).</summary>
    public string TrustBundleHash { get; set; } = "";
    /// <summary>SHA-256 of the node key's SubjectPublicKeyInfo: the name belongs to this key.</summary>
    public string PublicKeySha256 { get; set; } = "";
    /// <summary>Highest report sequence recorded from this node: reports at or below it are duplicates.</summary>
    public long LastReportSequence { get; set; }
    /// <summary>The epoch of the agent journal that numbered <see cref="LastReportSequence"/> ("" before epochs).</summary>
    public string ReportEpoch { get; set; } = "";
    /// <summary>The certificate the last renewal replaced: still valid until it expires, so revoked with the current one.</summary>
    public string PreviousCertificateSerial { get; set; } = "";
    public DateTime PreviousCertificateNotAfter { get; set; }
    /// <summary>When the agent last renewed its certificate over its stream (null: never, since it joined).</summary>
    public DateTime? CertificateRenewedAt { get; set; }
    /// <summary>Why the last renewal was refused ("" once one succeeds).</summary>
    public string CertificateRenewalError { get; set; } = "";
    /// <summary>Set by `nodefleet node revoke`: the node's certificates are denied until it joins again with a token.</summary>
    public DateTime? RevokedAt { get; set; }
}

/// <summary>
/// A certificate on the deny list, by serial (upper-case hex, as <c>X509Certificate2.SerialNumber</c>): refused at every
/// handshake until it expires. Any client certificate may be listed, a node's or an operator's.
/// </summary>
public sealed class RevokedCertificateRecord
{
    public string Serial { get; set; } = "";
    /// <summary>The certificate's common name: the node's name, or the operator's.</summary>
    public string Subject { get; set; } = "";
    /// <summary>The role the certificate carried (<c>Roles</c>).</summary>
    public string Role { get; set; } = "";
    public DateTime RevokedAt { get; set; }
    /// <summary>The certificate's own expiry: past it the entry may go, as the handshake refuses the certificate anyway.</summary>
    public DateTime NotAfter { get; set; }
    public string Reason { get; set; } = "";
}

/// <summary>A stored plan: a new generation each time content under the same name changes.</summary>
public sealed class PlanRecord : IRevisioned
{
    /// <summary>Moved on by every update (compare-and-swap); 0 in records stored before revisions were kept.</summary>
    public long Revision { get; set; }
    public string Name { get; set; } = "";
    public long Generation { get; set; }
    public string Digest { get; set; } = "";
    public byte[] Plan { get; set; } = [];
    public DateTime UpdatedAt { get; set; }
}

/// <summary>A plan run on a node as reported by its agent, step by step.</summary>
public sealed class RunHistoryRecord : IRevisioned
{
    /// <summary>Moved on by every update (compare-and-swap); 0 in records stored before revisions were kept.</summary>
    public long Revision { get; set; }
    /// <summary>NODE:RUNID (<see cref="Key"/>); a run recorded before runs were keyed by node has its bare run id.</summary>
    public string Id { get; set; } = "";
    /// <summary>The agent's run id (empty in records from before it was kept apart from <see cref="Id"/>).</summary>
    public string RunId { get; set; } = "";
    public string Node { get; set; } = "";
    public string PlanName { get; set; } = "";
    public long Generation { get; set; }
    public int State { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public string Error { get; set; } = "";
    public List<StepHistoryRecord> Steps { get; set; } = [];
    /// <summary>
    /// prepare (a rollout's non-disruptive phases only) or apply (the whole plan); "" in runs stored before it was
    /// kept, which read back as unknown.
    /// </summary>
    public string Stage { get; set; } = "";
    /// <summary>The rollout that sent the plan, if any.</summary>
    public string RolloutId { get; set; } = "";

    /// <summary>The stored id of a node's run: node names cannot hold ':'.</summary>
    public static string Key(string node, string runId) => $"{node}:{runId}";

    /// <summary>The agent's run id, from either form of record.</summary>
    public string AgentRunId => RunId.Length > 0 ? RunId : Id;
}

/// <summary>One step of a run, as last reported.</summary>
public sealed class StepHistoryRecord
{
    public string Phase { get; set; } = "";
    public string Step { get; set; } = "";
    public int State { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public string Message { get; set; } = "";
    public string OutputTail { get; set; } = "";
    public bool Changed { get; set; }

    /// <summary>
    /// The store's memory of this step: a copy as it last read or wrote it (null: never stored). A store that keeps steps
    /// as rows of their own writes only the steps that differ from it (<see cref="SameFields"/>), so that a report of
    /// one step is one small write, not the run's whole list. Opaque to the domain; not stored.
    /// </summary>
    internal StepHistoryRecord? Saved { get; set; }

    /// <summary>A copy of every stored field.</summary>
    internal StepHistoryRecord Copy()
    {
        var c = (StepHistoryRecord)MemberwiseClone();
        c.Saved = null;
        return c;
    }

    /// <summary>Whether every stored field equals <paramref name="o"/>'s (StepHistoryRecordTests checks that none is left out).</summary>
    internal bool SameFields(StepHistoryRecord o) =>
        Phase == o.Phase && Step == o.Step && State == o.State && StartedAt == o.StartedAt && FinishedAt == o.FinishedAt
        && Message == o.Message && OutputTail == o.OutputTail && Changed == o.Changed;
}

/// <summary>Something that happened to a node, kept for on-call.</summary>
public sealed class EventRecord
{
    /// <summary>Given by the store when added; ids sort in the order events were committed.</summary>
    public string Id { get; set; } = "";
    public DateTime Time { get; set; }
    public string Type { get; set; } = "Normal";
    public string Reason { get; set; } = "";
    public string Node { get; set; } = "";
    /// <summary>The rollout the event belongs to, if any.</summary>
    public string Rollout { get; set; } = "";
    public string Message { get; set; } = "";
    /// <summary>Who made the change (<c>Events.Actor</c>); "" in events stored before actors were kept.</summary>
    public string Actor { get; set; } = "";
}

/// <summary>An operator certificate issued by the coordinator (`nodefleet admin issue`, and init's admin.conf).</summary>
public sealed class OperatorCertificateRecord
{
    /// <summary>Upper-case hex; the key.</summary>
    public string Serial { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>viewer, operator or admin (<c>OperatorRoles</c>).</summary>
    public string Role { get; set; } = "";
    public DateTime IssuedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    /// <summary>The actor that issued it.</summary>
    public string IssuedBy { get; set; } = "";
    /// <summary>The generation of the fleet CA that issued it; 0 (recorded before generations were kept): 1.</summary>
    public int CaGeneration { get; set; }
}

/// <summary>Cluster-wide settings written at init.</summary>
public sealed class ClusterRecord
{
    /// <summary>Moved on by every update (compare-and-swap); 0 in records stored before revisions were kept.</summary>
    public long Revision { get; set; }
    public int Id { get; set; } = 1;
    public string AdvertiseAddress { get; set; } = "";
    public DateTime CreatedAt { get; set; }
}

/// <summary>
/// A Kubernetes cluster the coordinator holds credentials for (`nodefleet cluster add`). Not <see cref="ClusterRecord"/>,
/// which is the fleet's own settings. The kubeconfig is a secret: it leaves the store only to build a connection.
/// </summary>
public sealed class KubeClusterRecord : IRevisioned
{
    /// <summary>Moved on by every update (compare-and-swap).</summary>
    public long Revision { get; set; }
    public string Name { get; set; } = "";
    /// <summary>The kubeconfig file as given, credentials included.</summary>
    public byte[] Kubeconfig { get; set; } = [];
    /// <summary>The kubeconfig context to use; "" for the file's current-context.</summary>
    public string Context { get; set; } = "";
    /// <summary>The API server's address the context names (not a secret).</summary>
    public string Server { get; set; } = "";
    public DateTime AddedAt { get; set; }
}

/// <summary>
/// A coordinator process serving this store, as it last said in its heartbeat: what `nodefleet coordinators` lists.
/// Each coordinator writes only its own record; one that stopped heartbeating is shown as such, then dropped.
/// </summary>
public sealed class CoordinatorRecord
{
    /// <summary>Host and listen address, stable across restarts of the same coordinator.</summary>
    public string Id { get; set; } = "";
    /// <summary>The address agents and operators reach it at.</summary>
    public string Address { get; set; } = "";
    public string Version { get; set; } = "";
    /// <summary>Agent streams open on it.</summary>
    public int ConnectedAgents { get; set; }
    /// <summary>Whether it held the singleton lease (and ran the rollout controller, offline detection...) when it wrote this.</summary>
    public bool LeaseHeld { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime LastSeen { get; set; }
}

/// <summary>
/// A rollout report that reached a coordinator which does not hold the singleton lease, queued in the store (in the
/// transaction that recorded the report) for the holder's rollout controller, which takes it in the write that applies it.
/// </summary>
public sealed class RolloutReportRecord
{
    /// <summary>Given by the store, in the order reports were queued.</summary>
    public long Id { get; set; }
    public string Node { get; set; } = "";
    public string RolloutId { get; set; } = "";
    /// <summary>The report as the agent sent it (protobuf bytes, after the node limits' clamp).</summary>
    public byte[] Report { get; set; } = [];
    public DateTime QueuedAt { get; set; }
}

/// <summary>
/// One of the fleet's certificate authorities, kept in the store so that every coordinator on it serves the same fleet
/// (PostgreSQL) and so that a rotation is one record per CA. The key is a secret: it leaves the store only to sign, and is
/// never logged. The generation is 1 at init and grows by one per rotation.
/// </summary>
public sealed class CertificateAuthorityRecord : IRevisioned
{
    /// <summary>The CA that signs: node, operator and serving certificates.</summary>
    public const string Active = "active";
    /// <summary>A rotation's new CA, trusted beside the active one before it signs (`ca rotate start`).</summary>
    public const string Next = "next";
    /// <summary>The CA a rotation replaced, still trusted until `ca rotate finish`.</summary>
    public const string Previous = "previous";

    /// <summary>Moved on by every update (compare-and-swap).</summary>
    public long Revision { get; set; }
    public int Generation { get; set; }
    public string State { get; set; } = Active;
    public string CertificatePem { get; set; } = "";
    public string KeyPem { get; set; } = "";
    public DateTime CreatedAt { get; set; }
}
