using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Labels;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>
/// The fleet CA's rotation, in phases kept in the store (one record per CA, <see cref="CertificateAuthorityRecord"/>):
/// start (a next CA, trusted, not signing: agents are given both), reissue (the next CA signs; every node renews from it
/// over its stream), finish (the previous CA dropped; the coordinators' serving certificates move to the new one). Each
/// coordinator picks the change up from the store (<see cref="TrustRefresher"/>), its own at once.
/// </summary>
public sealed class CaRotation(ICoordinatorStore store, CertificateAuthority ca, TrustRefresher refresher, Nodes.Presence presence,
    EventBus events, TimeProvider time, ILogger<CaRotation> log)
{
    /// <summary>The node's progress in the rotation.</summary>
    public sealed record NodeProgress(string Name, int Generation, string State, string Status, string Error);

    /// <summary>An operator certificate, live (not revoked, not expired), from a CA other than the one that signs.</summary>
    public sealed record OperatorLeft(string Name, string Role, string Serial, int Generation, DateTime ExpiresAt);

    public static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);

    public async Task StartAsync()
    {
        var now = time.GetUtcNow();
        using var key = Pki.NewKey();
        var generation = 0;
        await store.WriteAsync(s =>
        {
            var all = s.Authorities.List();
            if (all.Count != 1)
                throw new FailedPreconditionException($"a CA rotation is already under way ({PhaseOf(all)}): see `nodefleet ca rotate status`");
            generation = all[0].Generation + 1;
            using var cert = Pki.CreateCa(key, $"nodefleet-ca-{generation}", CaValidity, now);
            s.Authorities.Insert(FleetAuthorities.Record(cert, key, generation, CertificateAuthorityRecord.Next, now.UtcDateTime));
            s.AddEvent(events, new EventRecord
            {
                Time = now.UtcDateTime, Reason = "CaRotationStarted",
                Message = $"CA generation {generation} ({CaHash.Of(cert)}) created; agents and CLI configs now trust generations {all[0].Generation} and {generation}",
            });
        });
        refresher.Reload();
        log.LogWarning("CA rotation started: generation {Generation} trusted beside {Active}", generation, generation - 1);
    }

    public async Task ReissueAsync()
    {
        var now = time.GetUtcNow().UtcDateTime;
        await store.WriteAsync(s =>
        {
            var all = s.Authorities.List();
            var next = all.FirstOrDefault(a => a.State == CertificateAuthorityRecord.Next)
                ?? throw new FailedPreconditionException(all.Count == 1
                    ? "no CA rotation is under way: start one with `nodefleet ca rotate start`"
                    : "the new CA already signs: see `nodefleet ca rotate status`, then `nodefleet ca rotate finish`");
            var active = all.Single(a => a.State == CertificateAuthorityRecord.Active);
            active.State = CertificateAuthorityRecord.Previous;
            next.State = CertificateAuthorityRecord.Active;
            s.Authorities.Update(active);
            s.Authorities.Update(next);
            s.AddEvent(events, new EventRecord
            {
                Time = now, Reason = "CaRotationReissuing",
                Message = $"CA generation {next.Generation} signs from now on; every node renews its certificate from it",
            });
        });
        refresher.Reload();
        log.LogWarning("CA rotation: the new CA signs; nodes renew from it");
    }

    /// <summary>Drops the previous CA; returns the nodes left on it (refused, unless <paramref name="force"/>).</summary>
    public async Task<IReadOnlyList<string>> FinishAsync(bool force)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var left = await store.WriteAsync(s =>
        {
            var all = s.Authorities.List();
            var previous = all.FirstOrDefault(a => a.State == CertificateAuthorityRecord.Previous)
                ?? throw new FailedPreconditionException(all.Count == 1
                    ? "no CA rotation is under way: start one with `nodefleet ca rotate start`"
                    : "the new CA does not sign yet: run `nodefleet ca rotate reissue` first");
            var active = all.Single(a => a.State == CertificateAuthorityRecord.Active);
            var stale = s.Nodes.List(LabelSelector.Everything)
                .Where(n => n.RevokedAt is null && Generation(n) != active.Generation).Select(n => n.Name).ToList();
            var operators = OperatorsLeft(s.OperatorCertificates, active.Generation, now);
            if ((stale.Count > 0 || operators.Count > 0) && !force)
            {
                var problems = new List<string>();
                if (stale.Count > 0)
                    problems.Add($"{stale.Count} node(s) still hold a certificate of the old CA: " +
                        $"{string.Join(", ", stale.Take(10))}{(stale.Count > 10 ? ", ..." : "")}; bring them online to renew " +
                        "(`nodefleet ca rotate status`)");
                if (operators.Count > 0)
                    problems.Add($"{operators.Count} operator certificate(s) are still from the old CA: " +
                        string.Join(", ", operators.Take(10).Select(o => $"{o.Name} ({o.Role}, serial {o.Serial}, valid until {o.ExpiresAt:u})")) +
                        $"{(operators.Count > 10 ? ", ..." : "")}; run `nodefleet admin renew` with each of their configs " +
                        "(or `nodefleet admin revoke NAME` for one no longer needed)");
                throw new FailedPreconditionException(string.Join("; ", problems) +
                    "; or finish with --force (nodes must join again, operators need a new certificate from `nodefleet admin issue`)");
            }
            s.Authorities.Delete(previous.Generation);
            var forced = stale.Select(n => $"node {n}").Concat(operators.Select(o => $"operator {o.Name} ({o.Role})")).ToList();
            s.AddEvent(events, new EventRecord
            {
                Time = now, Type = forced.Count > 0 ? "Warning" : "Normal", Reason = "CaRotationFinished",
                Message = $"CA generation {previous.Generation} is no longer trusted; generation {active.Generation} is the fleet's CA" +
                          (forced.Count > 0 ? $"; forced: {string.Join(", ", forced)} lost access" : ""),
            });
            return stale;
        });
        refresher.Reload();
        // Streams opened with a certificate of the old CA end now: their reconnection is refused at the handshake.
        foreach (var name in left) presence.Kick(name);
        log.LogWarning("CA rotation finished: only generation {Generation} is trusted", ca.ActiveGeneration);
        return left;
    }

    /// <summary>Every node's progress: done (certificate from the active CA), pending, offline, or needs-join.</summary>
    public IReadOnlyList<NodeProgress> Progress()
    {
        var trusted = ca.All.Select(a => a.Generation).ToHashSet();
        return store.Nodes.List(LabelSelector.Everything).Select(n =>
        {
            var g = Generation(n);
            var online = n.Status == NodeState.Online;
            var state = n.RevokedAt is not null || !trusted.Contains(g) ? "needs-join"
                : g == ca.ActiveGeneration ? (n.TrustBundleHash == ca.TrustBundleHash || ca.Phase == "none" ? "done" : "trust-pending")
                : online ? "pending" : "offline";
            return new NodeProgress(n.Name, g, state, n.Status.ToString(), n.CertificateRenewalError);
        }).ToList();
    }

    /// <summary>
    /// While the new CA signs (reissuing), the operator certificates still from the old one: they stop working at
    /// finish. Empty in other phases.
    /// </summary>
    public IReadOnlyList<OperatorLeft> OperatorsLeft() =>
        ca.Phase == "reissuing" ? OperatorsLeft(store.OperatorCertificates, ca.ActiveGeneration, time.GetUtcNow().UtcDateTime) : [];

    /// <summary>
    /// Live certificates from a CA other than <paramref name="active"/> whose operator (name and role) has no live one
    /// from it: after `nodefleet admin renew`, copies of the old config are no longer counted.
    /// </summary>
    private static List<OperatorLeft> OperatorsLeft(IOperatorCertificateReads certificates, int active, DateTime now)
    {
        var live = certificates.List().Where(c => c.RevokedAt is null && c.ExpiresAt > now).ToList();
        var renewed = live.Where(c => Generation(c) == active).Select(c => (c.Name, c.Role)).ToHashSet();
        return live.Where(c => Generation(c) != active && !renewed.Contains((c.Name, c.Role)))
            .Select(c => new OperatorLeft(c.Name, c.Role, c.Serial, Generation(c), c.ExpiresAt)).ToList();
    }

    /// <summary>Operator certificates recorded before CA generations were kept are from the first CA.</summary>
    public static int Generation(OperatorCertificateRecord c) => c.CaGeneration == 0 ? 1 : c.CaGeneration;

    /// <summary>Nodes joined before CA generations were recorded hold a certificate of the first CA.</summary>
    public static int Generation(NodeRecord n) => n.CaGeneration == 0 ? 1 : n.CaGeneration;

    private static string PhaseOf(IReadOnlyList<CertificateAuthorityRecord> all) =>
        all.Any(a => a.State == CertificateAuthorityRecord.Next) ? "started" : "reissuing";
}
