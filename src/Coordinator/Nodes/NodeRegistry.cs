using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
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
    TimeProvider time, ILogger<NodeRegistry> log)
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
        await store.WriteAsync(s =>
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
            node.PublicKeySha256 = keyHash;
            if (existing is null) s.Nodes.Insert(node);
            else s.Nodes.Update(node);
            AddEvent(s, now, "Normal", existing is null ? "Joined" : "Rejoined", node.Name,
                $"joined from {peerAddress} with token {token.Id}");
        });
        log.LogInformation("Node {Node} joined from {Address} with token {TokenId}", request.NodeName, peerAddress, token.Id);
        return cert;
    }

    /// <summary>The registered node a client certificate belongs to, or an error saying why it is refused.</summary>
    public NodeRecord Authenticate(string nodeName, X509Certificate2 clientCertificate)
    {
        var node = store.Nodes.Get(nodeName)
            ?? throw new PermissionDeniedException(
                $"node {nodeName} is not registered (it was deleted); join it again with a new token (`nodefleet-agent join --token TOKEN --ca-cert-hash HASH ADDRESS` on the node: it keeps its name)");
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
        if (facts is not null) node.Facts = FactsMapping.ToRecord(facts);
        node.Address = address;
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

    public Task MarkOfflineAsync(string name, string reason, DateTime? lastSeen) => store.WriteAsync(s =>
    {
        var node = s.Nodes.Get(name);
        if (node is null || node.Status == NodeState.Offline) return;
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

    public async Task DeleteAsync(string name)
    {
        var deleted = await store.WriteAsync(s =>
        {
            if (!s.Nodes.Delete(name)) return false;
            AddEvent(s, time.GetUtcNow().UtcDateTime, "Warning", "Deleted", name,
                "node deleted; its certificate is refused from now on");
            return true;
        });
        if (!deleted) throw NotFound(name);
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
        if (existing is not null && existing.PublicKeySha256 != keyHash)
            throw new AlreadyExistsException(
                $"node name {name} is already held by another key; choose another --node-name or run `nodefleet node delete {name}` first");
    }

    private static NotFoundException NotFound(string name) => new($"node {name} not found");

    public static string Fingerprint(X509Certificate2 cert) => Convert.ToHexStringLower(SHA256.HashData(cert.RawData));

    private void AddEvent(IStoreWriter s, DateTime now, string type, string reason, string node, string message) =>
        s.AddEvent(events, new EventRecord { Time = now, Type = type, Reason = reason, Node = node, Message = message });
}
