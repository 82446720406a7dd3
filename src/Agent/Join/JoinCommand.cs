using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;
using NodeFleet.IO;
using NodeFleet.Labels;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Agent.Join;

/// <summary>`nodefleet-agent join`: trust the coordinator (token signature + CA pin), then trade the token and a CSR for a certificate.</summary>
public sealed class JoinCommand(HostRoot root, FactsCollector facts, ILogger<JoinCommand> log, TimeProvider time)
{
    public sealed record Options(
        string? Address,
        string? Token,
        string? CaCertHash,
        string? DiscoveryFile,
        bool UnsafeSkipCaVerification,
        string? NodeName,
        string? Labels,
        string? Cluster = null,
        IReadOnlyList<string>? PlanSignerHashes = null);

    /// <summary>The label that names the node's Kubernetes cluster (the coordinator's ClusterLabels.Cluster).</summary>
    public const string ClusterLabel = "nodefleet.io/cluster";

    public async Task<int> RunAsync(Options o, TextWriter output, CancellationToken ct)
    {
        // Everything that can be checked locally is checked before any network call.
        if (string.IsNullOrEmpty(o.Token)) throw new AgentException("--token is required");
        BootstrapToken token;
        try { token = BootstrapToken.Parse(o.Token); }
        catch (FormatException e) { throw new AgentException(e.Message); }
        string? pin = null;
        if (o.CaCertHash is not null)
        {
            try { pin = CaHash.Normalize(o.CaCertHash); }
            catch (FormatException e) { throw new AgentException(e.Message); }
        }
        if (pin is null && o.DiscoveryFile is null && !o.UnsafeSkipCaVerification)
            throw new AgentException("the coordinator's CA must be pinned: pass --ca-cert-hash sha256:<hex> (from `nodefleet token create --print-join-command`) or --discovery-file FILE; --unsafe-skip-ca-verification disables the check");
        var signers = new List<string>();
        foreach (var hash in o.PlanSignerHashes ?? [])
        {
            try { signers.Add(KeyHash.Normalize(hash, "--plan-signer-hash")); }
            catch (FormatException e) { throw new AgentException(e.Message); }
        }
        Dictionary<string, string> labels;
        try { labels = LabelSyntax.ParseAssignments(o.Labels); }
        catch (FormatException e) { throw new AgentException($"--labels: {e.Message}"); }
        if (o.Cluster is not null)
        {
            // The coordinator holds the cluster's credentials; the node only names the cluster, as a label.
            if (LabelSyntax.ClusterNameError(o.Cluster) is { } clusterError) throw new AgentException($"--cluster: {clusterError}");
            if (labels.TryGetValue(ClusterLabel, out var other) && other != o.Cluster)
                throw new AgentException($"--cluster {o.Cluster} and --labels {ClusterLabel}={other} name different clusters");
            labels[ClusterLabel] = o.Cluster;
        }
        // A machine that joined before joins again under the name it has (after `nodefleet node delete`, say),
        // unless another name is asked for; a first join takes the host name.
        var existing = AgentConfig.Load(root);
        var nodeName = (o.NodeName ?? existing?.NodeName ?? System.Net.Dns.GetHostName()).ToLowerInvariant();
        var nameError = LabelSyntax.NodeNameError(nodeName);
        if (nameError is not null) throw new AgentException(nameError);
        if (existing is not null && existing.NodeName != nodeName)
            throw new AgentException($"this machine already joined as {existing.NodeName}; to join it under the name {nodeName} instead, " +
                $"remove {root.Path(AgentPaths.ConfigFile)} and {root.Path(AgentPaths.PkiDir)} first (or leave out --node-name to join again as {existing.NodeName})");

        var (address, all, ca, trustPem) = await DiscoverAsync(o, token, pin, ct);

        var keyPath = root.Path(AgentPaths.NodeKey);
        ECDsa key;
        // Written before the token is used: a root this process cannot write to costs no token.
        try { key = LoadOrCreateKey(keyPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgentException($"cannot write the node's private key {keyPath}: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            throw new AgentException($"{keyPath} (left by an earlier join) is not a usable private key: {e.Message}; remove it to join with a new one");
        }
        using var _ = key;
        var request = new JoinRequest
        {
            Token = token.ToString(),
            NodeName = nodeName,
            CsrPem = Pki.CreateCsrPem(key, nodeName),
            Facts = await facts.CollectAsync(ct),
        };
        request.Labels.Add(labels);

        JoinResponse response;
        var trust = CaBundle.Parse(trustPem);
        using (var channel = GrpcChannels.CreateTrusting(address, trust, null, time))
        {
            response = await Call(address, "join", () =>
                new Bootstrap.BootstrapClient(channel).JoinAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct).ResponseAsync);
        }

        using var cert = X509Certificate2.CreateFromPem(response.CertificatePem);
        if (!CaBundle.ChainsToAny(cert, trust, CertificateUsage.Client, time.GetUtcNow()))
            throw new AgentException("the certificate returned by the coordinator is not signed by its CA");
        if (!cert.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            throw new AgentException("the certificate returned by the coordinator is not for this node's key");

        AtomicFile.WriteAllText(root.Path(AgentPaths.CaCert), trustPem, AtomicFile.Public);
        AtomicFile.WriteAllText(root.Path(AgentPaths.NodeCert), response.CertificatePem, AtomicFile.Public);
        // The node's settings in the file stay; pins given here replace those there (none given: they stay too).
        var config = AgentConfig.Settings(root);
        // Every address given is kept: the agent fails over along them (and along the list the fleet tells it).
        config.Coordinator = CoordinatorAddressList.Format(all);
        config.NodeName = nodeName;
        if (signers.Count > 0) config.PlanSigners = signers.Distinct(StringComparer.Ordinal).ToList();
        config.Save(root);

        log.LogInformation("Joined the fleet at {Address} as node {Node}", address, nodeName);
        output.WriteLine($"This node has joined the fleet at {address} as {nodeName}.");
        output.WriteLine($"  certificate: {root.Path(AgentPaths.NodeCert)} (valid until {cert.NotAfter.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ})");
        if (config.PlanSigners.Count > 0)
            output.WriteLine($"  plans: only those signed by {string.Join(" or ", config.PlanSigners)}");
        output.WriteLine("Start the agent with `systemctl enable --now nodefleet-agent` (or `nodefleet-agent run`),");
        output.WriteLine($"then see it with `nodefleet nodes` on the coordinator.");
        return 0;
    }

    /// <summary>
    /// The CA, from the discovery file or from the first of the given coordinators that answers discovery with one that
    /// verifies (each address is checked on its own, so one that is down, or not the pinned fleet, is passed over), and
    /// every CA to trust (PEM): during a CA rotation the coordinator sends two.
    /// </summary>
    private async Task<(string Address, IReadOnlyList<string> All, X509Certificate2 Ca, string TrustPem)> DiscoverAsync(Options o,
        BootstrapToken token, string? pin, CancellationToken ct)
    {
        if (o.DiscoveryFile is not null)
        {
            var (fileAddress, fileCa) = DiscoveryFile.Load(o.DiscoveryFile);
            var addr = o.Address ?? fileAddress;
            if (string.IsNullOrWhiteSpace(addr)) throw new AgentException($"no coordinator address: give ADDRESS or set coordinator in {o.DiscoveryFile}");
            if (pin is not null && !CaHash.Matches(fileCa, pin))
                throw new AgentException($"the CA in {o.DiscoveryFile} has hash {CaHash.Of(fileCa)}, not the pinned {pin}");
            var fromFile = ParseAddresses(addr);
            return (fromFile[0], fromFile, fileCa, fileCa.ExportCertificatePem());
        }
        if (string.IsNullOrWhiteSpace(o.Address)) throw new AgentException("the coordinator ADDRESS (HOST:PORT) is required");
        var addresses = ParseAddresses(o.Address);
        AgentException? first = null;
        foreach (var address in addresses)
        {
            try
            {
                var (ca, trustPem) = await DiscoverAtAsync(address, token, pin, ct);
                return (address, addresses, ca, trustPem);
            }
            catch (AgentException e) when (addresses.Count > 1)
            {
                log.LogWarning("Discovery at {Address} failed ({Error}); trying the next coordinator", address, e.Message);
                first ??= e;
            }
        }
        throw new AgentException($"no coordinator of {CoordinatorAddressList.Format(addresses)} could be used; the first said: {first!.Message}");
    }

    private async Task<(X509Certificate2 Ca, string TrustPem)> DiscoverAtAsync(string address, BootstrapToken token, string? pin, CancellationToken ct)
    {
        DiscoverResponse discovered;
        // The server certificate cannot be checked yet: the answer is authenticated below instead.
        using (var channel = GrpcChannels.Create(address, ca: null, null, time))
        {
            discovered = await Call(address, "discovery", () =>
                new Bootstrap.BootstrapClient(channel).DiscoverAsync(new DiscoverRequest { TokenId = token.Id },
                    deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct).ResponseAsync);
        }
        if (!Jws.VerifyHs256(discovered.Jws, discovered.CaCertificatePem, token.Id, token.DiscoveryKey()))
            throw new AgentException($"the CA certificate sent by {address} is not signed with token {token.Id}: the token secret is wrong or the answer was tampered with; refusing to trust it");
        X509Certificate2Collection bundle;
        try { bundle = CaBundle.Parse(discovered.CaCertificatePem); }
        catch (CryptographicException e) { throw new AgentException($"the coordinator sent an unreadable CA certificate: {e.Message}"); }
        // During a CA rotation the signed answer holds both CAs: the pin may be either (new joins are given the new one).
        var ca = (pin is null ? null : bundle.FirstOrDefault(c => CaHash.Of(c) == pin)) ?? bundle[0];
        var actual = CaHash.Of(ca);
        if (pin is not null && actual != pin)
            throw new AgentException($"the coordinator's CA has hash {string.Join(" or ", bundle.Select(CaHash.Of))}, which does not match --ca-cert-hash {pin}; refusing to trust it");
        if (pin is null)
            log.LogWarning("Trusting the coordinator's CA {Hash} without pin verification (--unsafe-skip-ca-verification)", actual);
        return (ca, discovered.CaCertificatePem);
    }

    /// <summary>ADDRESS as given: one HOST[:PORT], or several separated by commas.</summary>
    private static IReadOnlyList<string> ParseAddresses(string text)
    {
        try
        {
            var list = CoordinatorAddressList.Parse(text);
            return list.Count > 0 ? list : throw new AgentException("the coordinator ADDRESS (HOST:PORT) is required");
        }
        catch (FormatException e) { throw new AgentException(e.Message); }
    }

    private static ECDsa LoadOrCreateKey(string path)
    {
        // An existing key is kept: the node's name stays bound to it across re-joins.
        var key = ECDsa.Create();
        if (File.Exists(path))
        {
            key.ImportFromPem(File.ReadAllText(path));
            return key;
        }
        key.Dispose();
        key = Pki.NewKey();
        AtomicFile.WriteAllText(path, Pki.KeyToPem(key), AtomicFile.Private);
        return key;
    }

    private static async Task<T> Call<T>(string address, string what, Func<Task<T>> call)
    {
        try { return await call(); }
        catch (RpcException e) when (UntrustedCoordinator(e))
        {
            throw new AgentException($"{what}: the coordinator at {address} is not the one pinned: its certificate is not issued by the " +
                "CA this join trusts (--ca-cert-hash or the discovery file's certificateAuthorityData), or is not valid for that address");
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            throw new AgentException($"{what}: cannot reach the coordinator at {address}: {Why(e)}");
        }
        catch (RpcException e) when (e.Status.Detail.Length == 0 || e.Status.DebugException is not null)
        {
            // Not an answer of the coordinator's: the connection broke on the way (a busy or protected port closing
            // it, a reset). Name the cause, never an empty reason.
            throw new AgentException($"{what}: the call to the coordinator at {address} failed before it answered: {Why(e)}");
        }
        catch (RpcException e)
        {
            throw new AgentException($"{what} refused by the coordinator at {address}: {e.Status.Detail}");
        }
    }

    private static Exception? Innermost(RpcException e) => RpcCauses.Of(e).LastOrDefault();

    private static bool UntrustedCoordinator(RpcException e) => Innermost(e) is { } x && RpcCauses.ServerCertificateRejected(x);

    /// <summary>gRPC's detail for a failed connection is generic ("Error connecting to subchannel."); the innermost cause says why.</summary>
    private static string Why(RpcException e)
    {
        var detail = e.Status.Detail.TrimEnd('.');
        if (detail.Length == 0) detail = $"gRPC status {e.StatusCode}";
        return Innermost(e) is { Message: { Length: > 0 } cause } ? $"{detail}: {cause}" : detail;
    }
}
