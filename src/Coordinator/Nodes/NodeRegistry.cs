using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Labels;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Nodes;

/// <summary>The node aggregate: join, presence transitions, labels, deletion, each persisted with its event.</summary>
public sealed class NodeRegistry(ICoordinatorStore store, TokenService tokens, CertificateAuthority ca, EventBus events,
    TimeProvider time, ILogger<NodeRegistry> log, DenyList? denyList = null, Coordinators.CoordinatorIdentity? me = null)
{
    /// <summary>Checks the token and the CSR, issues the node certificate and persists the node before returning it.</summary>
    public async Task<X509Certificate2> JoinAsync(JoinRequest request, string peerAddress)
    {
        BootstrapToken token;
        try { token = BootstrapToken.Parse(request.Token); }
        catch (FormatException e) { throw new InvalidArgumentException(e.Message); }

        // What a node sends is bounded before anything quotes or stores it (NodeLimits).
        if (request.NodeName.Length > 253)
            throw new InvalidArgumentException($"node name '{NodeLimits.Quote(request.NodeName)}' is longer than 253 characters");
        var nameError = LabelSyntax.NodeNameError(request.NodeName);
        if (nameError is not null) throw new InvalidArgumentException(nameError);
        if (NodeLimits.JoinLabelsError(request.Labels) is { } labelsError) throw new InvalidArgumentException($"join refused: {labelsError}");
        if (NodeLimits.FactsError(request.Facts) is { } factsError) throw new InvalidArgumentException($"join refused: {factsError}");
        foreach (var (k, v) in request.Labels)
        {
            var e = LabelSyntax.KeyError(k) ?? LabelSyntax.ValueError(k, v);
            if (e is not null) throw new InvalidArgumentException(e);
        }

        PublicKey publicKey;
        try { publicKey = Pki.ReadCsrPublicKey(request.CsrPem); }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidArgumentException($"certificate signing request is invalid: {e.Message}");
        }
        var keyHash = Pki.SpkiSha256(publicKey);

        // Fail fast outside the writer; the same checks run again inside it, where they are authoritative.
        CheckSecret(tokens.RequireUsable(token.Id), token);
        CheckNameOwnership(store.Nodes.Get(request.NodeName), request.NodeName, keyHash);

        var cert = ca.IssueNode(request.NodeName, publicKey);
        var now = time.GetUtcNow().UtcDateTime;
        // Nodes joining at once with one token (through one coordinator or several on a shared store) each move its use
        // count on by compare-and-swap: the one that lost reads the token again and retries, so a fleet can join together.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await JoinWriteAsync(request, token, peerAddress, keyHash, cert, now);
                break;
            }
            catch (ConflictException) when (attempt < JoinConflictAttempts)
            {
                // A short jittered pause (wall time: it only spreads the retries), so the same writers do not collide again.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 50) * attempt));
            }
        }
        log.LogInformation("Node {Node} joined from {Address} with token {TokenId}", request.NodeName, peerAddress, token.Id);
        return cert;
    }

    /// <summary>How many times a join is tried when a concurrent write to the same token or node wins.</summary>
    private const int JoinConflictAttempts = 8;

    private Task JoinWriteAsync(JoinRequest request, BootstrapToken token, string peerAddress, string keyHash, X509Certificate2 cert,
        DateTime now) =>
        store.WriteAsync(s =>
        {
            var record = CheckSecret(tokens.CheckUsable(s.Tokens.Get(token.Id), token.Id), token);
            var existing = s.Nodes.Get(request.NodeName);
            CheckNameOwnership(existing, request.NodeName, keyHash);
            record.UsagesUsed++;
            s.Tokens.Update(record);
            var node = existing ?? new NodeRecord { Name = request.NodeName, JoinedAt = now, StatusChangedAt = now };
            foreach (var (k, v) in request.Labels) node.Labels[k] = v;
            node.Facts = FactsMapping.ToRecord(request.Facts);
            node.JoinedWithToken = token.Id;
            node.Address = peerAddress;
            node.CertificateSerial = cert.SerialNumber;
            node.CertificateNotAfter = cert.NotAfter.ToUniversalTime();
            node.CertificateFingerprint = Fingerprint(cert);
            node.CaGeneration = ca.GenerationOf(cert);
            node.PublicKeySha256 = keyHash;
            // A revoked node joins again as a new identity: its old certificates stay on the deny list.
            node.RevokedAt = null;
            node.PreviousCertificateSerial = "";
            node.PreviousCertificateNotAfter = default;
            node.CertificateRenewedAt = null;
            node.CertificateRenewalError = "";
            if (existing is null) s.Nodes.Insert(node);
            else s.Nodes.Update(node);
            AddEvent(s, now, "Normal", existing is null ? "Joined" : "Rejoined", node.Name,
                $"joined from {peerAddress} with token {token.Id}");
        });

    /// <summary>The registered node a client certificate belongs to, or an error saying why it is refused.</summary>
    public NodeRecord Authenticate(string nodeName, X509Certificate2 clientCertificate)
    {
        var node = store.Nodes.Get(nodeName)
            ?? throw new PermissionDeniedException(
                $"node {nodeName} is not registered (it was deleted); join it again with a new token (`nodefleet-agent join --token TOKEN --ca-cert-hash HASH ADDRESS` on the node: it keeps its name)");
        if (node.RevokedAt is { } revoked)
            throw new PermissionDeniedException($"node {nodeName} was revoked at {revoked:u}; {AuthorizationInterceptor.JoinAgain}");
        if (node.CertificateFingerprint != Fingerprint(clientCertificate))
            throw new PermissionDeniedException(
                $"the certificate presented for node {nodeName} is no longer valid (the node was deleted or joined again with another key)");
        return node;
    }

    public Task MarkOnlineAsync(string name, NodeFacts? facts, string address)
    {
        if (NodeLimits.FactsError(facts) is { } factsError)
            throw new InvalidArgumentException($"hello from node {name} refused: {factsError}");
        return MarkOnlineCheckedAsync(name, facts, address);
    }

    private Task MarkOnlineCheckedAsync(string name, NodeFacts? facts, string address) => store.WriteAsync(s =>
    {
        var node = s.Nodes.Get(name);
        if (node is null) return;
        var now = time.GetUtcNow().UtcDateTime;
        var coordinator = me?.Id ?? "";
        // A reconnection that changes nothing but the last-seen time (every node after a coordinator restart) writes
        // nothing: presence holds the live time and the monitor's periodic flush stores it, as for a connected node.
        if (node.Status == NodeState.Online && node.Address == address && node.Coordinator == coordinator &&
            (facts is null || FactsMapping.ToMessage(node.Facts).Equals(facts)))
            return;
        if (facts is not null) node.Facts = FactsMapping.ToRecord(facts);
        node.Address = address;
        node.Coordinator = coordinator;
        node.LastSeen = now;
        if (node.Status != NodeState.Online)
        {
            node.Status = NodeState.Online;
            node.StatusReason = "connected";
            node.StatusChangedAt = now;
            AddEvent(s, now, "Normal", "Online", name, $"connected from {address}");
        }
        s.Nodes.Update(node);
    });

    /// <summary>
    /// Marks the node offline, unless another coordinator has opened its stream since the one that is closing: that of
    /// <paramref name="heldBy"/> (by default this coordinator), or any with <paramref name="force"/> (a revocation).
    /// Singleton work (a dead coordinator's nodes) passes its <paramref name="lease"/>, checked in the write.
    /// </summary>
    public Task MarkOfflineAsync(string name, string reason, DateTime? lastSeen, bool force = false, string? heldBy = null,
        Lease? lease = null) => store.WriteAsync(s =>
    {
        if (lease is not null) s.RequireLease(lease);
        var node = s.Nodes.Get(name);
        if (node is null || node.Status == NodeState.Offline) return;
        var expected = force ? null : heldBy ?? me?.Id;
        if (expected is not null && node.Coordinator.Length > 0 && node.Coordinator != expected) return;
        var now = time.GetUtcNow().UtcDateTime;
        node.Status = NodeState.Offline;
        node.StatusReason = reason;
        node.StatusChangedAt = now;
        if (lastSeen is not null) node.LastSeen = lastSeen;
        s.Nodes.Update(node);
        AddEvent(s, now, "Warning", "Offline", name, reason);
    });

    /// <summary>Persists last-seen times in one batch (they are kept in memory between flushes).</summary>
    public Task FlushLastSeenAsync(IReadOnlyCollection<(string Name, DateTime LastSeen)> seen) => store.WriteAsync(s =>
    {
        foreach (var (name, at) in seen) s.Nodes.SetLastSeen(name, at);
    });

    /// <summary>Sets and removes labels; Changed is false (and nothing is written or recorded) when none would change.</summary>
    public async Task<(NodeRecord Node, bool Changed)> LabelAsync(string name, IReadOnlyDictionary<string, string> set,
        IReadOnlyCollection<string> remove, bool overwrite)
    {
        foreach (var (k, v) in set)
        {
            var e = LabelSyntax.KeyError(k) ?? LabelSyntax.ValueError(k, v);
            if (e is not null) throw new InvalidArgumentException(e);
        }
        foreach (var k in remove)
        {
            var e = LabelSyntax.KeyError(k);
            if (e is not null) throw new InvalidArgumentException(e);
        }
        return await store.WriteAsync(s =>
        {
            var node = s.Nodes.Get(name) ?? throw NotFound(name);
            foreach (var (k, v) in set)
            {
                if (!overwrite && node.Labels.TryGetValue(k, out var old) && old != v)
                    throw new FailedPreconditionException($"node {name} already has label {k}={old}; use --overwrite to change it");
            }
            // Only what changes is written and recorded, as kubectl does ("not labeled").
            var changes = set.Where(kv => !(node.Labels.TryGetValue(kv.Key, out var old) && old == kv.Value))
                .Select(kv => $"{kv.Key}={kv.Value}")
                .Concat(remove.Where(node.Labels.ContainsKey).Select(k => $"{k}-")).ToList();
            if (changes.Count == 0) return (node, false);
            foreach (var (k, v) in set) node.Labels[k] = v;
            foreach (var k in remove) node.Labels.Remove(k);
            s.Nodes.Update(node);
            AddEvent(s, time.GetUtcNow().UtcDateTime, "Normal", "Labeled", name, string.Join(",", changes));
            return (node, true);
        });
    }

    /// <summary>
    /// Issues a renewed certificate for the node on the stream <paramref name="streamCertificate"/> authenticated, for the
    /// new key in <paramref name="csrPem"/>, and records it on the node before returning it. The CSR must name that
    /// node with the node role; a refusal is recorded on the node (and in an event) and thrown.
    /// </summary>
    public async Task<X509Certificate2> RenewAsync(string nodeName, X509Certificate2 streamCertificate, string csrPem)
    {
        string? problem = null;
        PublicKey? publicKey = null;
        try
        {
            var (cn, role, key) = Pki.ReadCsr(csrPem);
            if (cn != nodeName || role != Roles.Nodes)
                problem = $"the certificate signing request is for {(role ?? "no role")} {(cn.Length == 0 ? "(no name)" : cn)}, not for node {nodeName} whose stream sent it";
            publicKey = key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            problem = $"the certificate signing request is invalid: {e.Message}";
        }
        if (problem is not null || publicKey is null)
        {
            await RecordRenewalFailureAsync(nodeName, problem ?? "no public key");
            throw new InvalidArgumentException(problem ?? "no public key");
        }

        var cert = ca.IssueNode(nodeName, publicKey);
        var streamSerial = Pki.SerialOf(streamCertificate);
        var now = time.GetUtcNow().UtcDateTime;
        await store.WriteAsync(s =>
        {
            var node = s.Nodes.Get(nodeName) ?? throw new PermissionDeniedException($"node {nodeName} is not registered (it was deleted)");
            if (node.RevokedAt is not null) throw new PermissionDeniedException($"node {nodeName} was revoked at {node.RevokedAt:u}");
            // The stream was opened with the node's current certificate, or with one an earlier renewal on this same
            // stream replaced: either way the node's key of record signed in.
            if (s.Revocations.Get(streamSerial) is not null)
                throw new PermissionDeniedException($"the certificate {streamSerial} of node {nodeName} was revoked");
            node.PreviousCertificateSerial = node.CertificateSerial;
            node.PreviousCertificateNotAfter = node.CertificateNotAfter;
            node.CertificateSerial = Pki.SerialOf(cert);
            node.CertificateNotAfter = cert.NotAfter.ToUniversalTime();
            node.CertificateFingerprint = Fingerprint(cert);
            node.CaGeneration = ca.GenerationOf(cert);
            node.PublicKeySha256 = Pki.SpkiSha256(publicKey);
            node.CertificateRenewedAt = now;
            node.CertificateRenewalError = "";
            s.Nodes.Update(node);
            AddEvent(s, now, "Normal", "CertificateRenewed", nodeName,
                $"new certificate {node.CertificateSerial} valid until {node.CertificateNotAfter:u} (new key, CA generation {node.CaGeneration})");
        });
        log.LogInformation("Renewed the certificate of node {Node}: serial {Serial}, valid until {NotAfter:u}", nodeName,
            Pki.SerialOf(cert), cert.NotAfter.ToUniversalTime());
        return cert;
    }

    /// <summary>Records that the node stored the trust bundle of hash <paramref name="bundleHash"/> (a CA rotation's progress).</summary>
    public Task RecordTrustBundleAsync(string nodeName, string bundleHash) => store.WriteAsync(s =>
    {
        var node = s.Nodes.Get(nodeName);
        if (node is null || node.TrustBundleHash == bundleHash) return;
        node.TrustBundleHash = bundleHash;
        s.Nodes.Update(node);
    });

    /// <summary>Records a renewal that failed (the coordinator's refusal, or the agent's own failure it reported).</summary>
    public Task RecordRenewalFailureAsync(string nodeName, string error) => store.WriteAsync(s =>
    {
        var node = s.Nodes.Get(nodeName);
        if (node is null) return;
        node.CertificateRenewalError = error;
        s.Nodes.Update(node);
        AddEvent(s, time.GetUtcNow().UtcDateTime, "Warning", "CertificateRenewalFailed", nodeName, error);
    });

    /// <summary>
    /// Puts the node's certificates (the current one, and the one the last renewal replaced while it is still valid) on
    /// the deny list and marks the node revoked: it is refused until it joins again with a token. Returns the serials.
    /// </summary>
    public async Task<IReadOnlyList<string>> RevokeAsync(string name, string reason)
    {
        var listed = await store.WriteAsync(s =>
        {
            var node = s.Nodes.Get(name) ?? throw NotFound(name);
            var now = time.GetUtcNow().UtcDateTime;
            var entries = DenyEntries(node, now, reason);
            foreach (var e in entries) s.Revocations.Add(e);
            node.RevokedAt ??= now;
            node.CertificateFingerprint = "";
            s.Nodes.Update(node);
            AddEvent(s, now, "Warning", "Revoked", name,
                $"certificates {string.Join(", ", entries.Select(e => e.Serial))} revoked{(reason.Length > 0 ? $": {reason}" : "")}; the node must join again with a token");
            s.OnCommitted(() => denyList?.Add(entries));
            return entries;
        });
        log.LogWarning("Node {Node} revoked: certificates {Serials} are refused from now on", name, string.Join(", ", listed.Select(e => e.Serial)));
        return listed.Select(e => e.Serial).ToList();
    }

    private static List<RevokedCertificateRecord> DenyEntries(NodeRecord node, DateTime now, string reason)
    {
        var entries = new List<RevokedCertificateRecord>();
        void Add(string serial, DateTime notAfter)
        {
            if (serial.Length == 0 || notAfter <= now) return;
            entries.Add(new RevokedCertificateRecord
            {
                Serial = serial.ToUpperInvariant(), Subject = node.Name, Role = Roles.Nodes, RevokedAt = now, NotAfter = notAfter,
                Reason = reason.Length > 0 ? reason : "node revoked",
            });
        }
        Add(node.CertificateSerial, node.CertificateNotAfter);
        Add(node.PreviousCertificateSerial, node.PreviousCertificateNotAfter);
        return entries;
    }

    public async Task DeleteAsync(string name)
    {
        var deleted = await store.WriteAsync(s =>
        {
            var node = s.Nodes.Get(name);
            if (node is null || !s.Nodes.Delete(name)) return false;
            // Deleted is revoked too: a certificate of a deleted node is refused at the handshake.
            var entries = DenyEntries(node, time.GetUtcNow().UtcDateTime, "node deleted");
            foreach (var e in entries) s.Revocations.Add(e);
            s.OnCommitted(() => denyList?.Add(entries));
            AddEvent(s, time.GetUtcNow().UtcDateTime, "Warning", "Deleted", name,
                "node deleted; its certificate is refused from now on");
            return true;
        });
        if (!deleted) throw NotFound(name);
        // Messages still waiting for it were for the machine that was: one that joins again under the name starts clean.
        while (await store.Outbox.PendingAsync(name, 100) is { Count: > 0 } pending)
            foreach (var m in pending) await store.Outbox.RemoveAsync(name, m.Id);
        log.LogInformation("Node {Node} deleted", name);
    }

    public NodeRecord Get(string name) => store.Nodes.Get(name) ?? throw NotFound(name);

    public IReadOnlyList<NodeRecord> List(LabelSelector selector) =>
        store.Nodes.List(selector);

    public IReadOnlyList<NodeRecord> ListOnline() =>
        store.Nodes.ListByStatus(NodeState.Online);

    public IReadOnlyList<EventRecord> Events(string node, int max) =>
        store.Events.Newest(new EventQuery(max, Node: node));

    private static TokenRecord CheckSecret(TokenRecord record, BootstrapToken token)
    {
        var expected = System.Text.Encoding.ASCII.GetBytes(record.SecretHash);
        var actual = System.Text.Encoding.ASCII.GetBytes(token.SecretHash());
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
            throw new WrongTokenSecretException(token.Id, $"token {token.Id}: the secret does not match");
        return record;
    }

    private static void CheckNameOwnership(NodeRecord? existing, string name, string keyHash)
    {
        // A revoked node's name is free for whoever joins with a token.
        if (existing is not null && existing.RevokedAt is null && existing.PublicKeySha256 != keyHash)
            throw new AlreadyExistsException(
                $"node name {name} is already held by another key; choose another --node-name or run `nodefleet node delete {name}` first");
    }

    private static NotFoundException NotFound(string name) => new($"node {name} not found");

    public static string Fingerprint(X509Certificate2 cert) => Convert.ToHexStringLower(SHA256.HashData(cert.RawData));

    private void AddEvent(IStoreWriter s, DateTime now, string type, string reason, string node, string message) =>
        s.AddEvent(events, new EventRecord { Time = now, Type = type, Reason = reason, Node = node, Message = message });
}
