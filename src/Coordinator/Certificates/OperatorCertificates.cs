using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>
/// Operator certificates (`nodefleet admin`): issued by the CA with their role in the subject's OU, recorded in the
/// store, and revoked through the deny list, which refuses them at the next handshake or call.
/// </summary>
public sealed partial class OperatorCertificates(ICoordinatorStore store, CertificateAuthority ca, EventBus events, TimeProvider time,
    ILogger<OperatorCertificates> log, DenyList? denyList = null)
{
    public static readonly TimeSpan DefaultValidity = TimeSpan.FromHours(720);
    public static readonly TimeSpan MaxValidity = TimeSpan.FromDays(3650);

    [GeneratedRegex("^[a-z0-9][a-z0-9._@-]{0,63}$")]
    private static partial Regex NamePattern();

    /// <summary>Checks the request, signs the CSR's key and records the certificate with an event.</summary>
    public async Task<(X509Certificate2 Certificate, OperatorCertificateRecord Record)> IssueAsync(
        string name, string role, TimeSpan? validity, string csrPem)
    {
        if (!NamePattern().IsMatch(name))
            throw new InvalidArgumentException($"name '{name}': lower-case letters, digits and . _ @ - only, starting with a letter or digit, at most 64");
        if (name.StartsWith("node/", StringComparison.Ordinal) || name == Actor.Coordinator)
            throw new InvalidArgumentException($"name '{name}' is reserved for the coordinator's own events");
        var parsed = OperatorRoles.Parse(role)
            ?? throw new InvalidArgumentException($"role '{role}': one of {OperatorRoles.Viewer}, {OperatorRoles.Operator}, {OperatorRoles.Admin}");
        var lifetime = validity ?? DefaultValidity;
        if (lifetime <= TimeSpan.Zero || lifetime > MaxValidity)
            throw new InvalidArgumentException($"ttl {lifetime}: must be more than zero and at most {MaxValidity.TotalDays:0} days");
        PublicKey key;
        try { key = Pki.ReadCsrPublicKey(csrPem); }
        catch (CryptographicException e) { throw new InvalidArgumentException($"csr: not a valid PKCS#10 request in PEM: {e.Message}"); }
        catch (ArgumentException e) { throw new InvalidArgumentException($"csr: not a valid PKCS#10 request in PEM: {e.Message}"); }

        var certificate = ca.IssueOperator(name, parsed, key, lifetime);
        var record = new OperatorCertificateRecord
        {
            Serial = Pki.SerialOf(certificate), Name = name, Role = parsed.Name(),
            IssuedAt = StoredTime.Of(certificate.NotBefore.ToUniversalTime()), ExpiresAt = StoredTime.Of(certificate.NotAfter.ToUniversalTime()),
            IssuedBy = Actor.Current ?? Actor.Coordinator, CaGeneration = ca.GenerationOf(certificate),
        };
        await store.WriteAsync(s =>
        {
            s.OperatorCertificates.Put(record);
            s.AddEvent(events, new EventRecord
            {
                Time = time.GetUtcNow().UtcDateTime, Reason = "OperatorCertificateIssued",
                Message = $"{record.Role} certificate {record.Serial} issued to {name}, valid until {record.ExpiresAt:u}",
            });
        });
        log.LogInformation("Issued {Role} certificate {Serial} to {Name}", record.Role, record.Serial, name);
        return (certificate, record);
    }

    /// <summary>
    /// The caller's own certificate renewed (`nodefleet admin renew`): same name and role, a new key, as long a lifetime
    /// as the current one had (at most <see cref="MaxValidity"/>), from the CA that signs now.
    /// </summary>
    public async Task<(X509Certificate2 Certificate, OperatorCertificateRecord Record)> RenewAsync(
        string name, OperatorRole role, X509Certificate2 current, string csrPem)
    {
        PublicKey key;
        try { key = Pki.ReadCsrPublicKey(csrPem); }
        catch (CryptographicException e) { throw new InvalidArgumentException($"csr: not a valid PKCS#10 request in PEM: {e.Message}"); }
        catch (ArgumentException e) { throw new InvalidArgumentException($"csr: not a valid PKCS#10 request in PEM: {e.Message}"); }
        var lifetime = Pki.IssuedValidity(current);
        if (lifetime > MaxValidity) lifetime = MaxValidity;
        var certificate = ca.IssueOperator(name, role, key, lifetime);
        var record = new OperatorCertificateRecord
        {
            Serial = Pki.SerialOf(certificate), Name = name, Role = role.Name(),
            IssuedAt = StoredTime.Of(certificate.NotBefore.ToUniversalTime()), ExpiresAt = StoredTime.Of(certificate.NotAfter.ToUniversalTime()),
            IssuedBy = name, CaGeneration = ca.GenerationOf(certificate),
        };
        await store.WriteAsync(s =>
        {
            s.OperatorCertificates.Put(record);
            s.AddEvent(events, new EventRecord
            {
                Time = time.GetUtcNow().UtcDateTime, Reason = "OperatorCertificateRenewed",
                Message = $"{record.Role} certificate {Pki.SerialOf(current)} of {name} renewed as {record.Serial}, valid until {record.ExpiresAt:u}",
            });
        });
        log.LogInformation("Renewed the {Role} certificate of {Name}: serial {Serial}", record.Role, name, record.Serial);
        return (certificate, record);
    }

    public IReadOnlyList<OperatorCertificateRecord> List() => store.OperatorCertificates.List();

    /// <summary>Puts every unexpired, unrevoked certificate issued under <paramref name="name"/> on the deny list.</summary>
    public async Task<IReadOnlyList<string>> RevokeAsync(string name, string reason)
    {
        // An admin revoking its own name would lock itself out, and perhaps the last admin out of the fleet.
        if (Actor.Current == name)
            throw new FailedPreconditionException($"'{name}' is the operator making this call: revoke it with another admin's config");
        var listed = await store.WriteAsync(s =>
        {
            var all = s.OperatorCertificates.Named(name);
            if (all.Count == 0) throw new NotFoundException($"no operator certificate was issued to '{name}' (see `nodefleet admin list`)");
            var now = time.GetUtcNow().UtcDateTime;
            var entries = new List<RevokedCertificateRecord>();
            foreach (var c in all.Where(c => c.RevokedAt is null && c.ExpiresAt > now))
            {
                entries.Add(new RevokedCertificateRecord
                {
                    Serial = c.Serial, Subject = name, Role = Roles.Admins, RevokedAt = now, NotAfter = c.ExpiresAt,
                    Reason = reason.Length > 0 ? reason : "operator revoked",
                });
                s.Revocations.Add(entries[^1]);
                c.RevokedAt = now;
                s.OperatorCertificates.Put(c);
            }
            if (entries.Count == 0)
                throw new FailedPreconditionException($"every certificate of '{name}' is already revoked or expired");
            s.AddEvent(events, new EventRecord
            {
                Time = now, Type = "Warning", Reason = "OperatorCertificateRevoked",
                Message = $"certificates {string.Join(", ", entries.Select(e => e.Serial))} of {name} revoked{(reason.Length > 0 ? $": {reason}" : "")}",
            });
            s.OnCommitted(() => denyList?.Add(entries));
            return entries;
        });
        log.LogWarning("Operator {Name} revoked: certificates {Serials} are refused from now on", name, string.Join(", ", listed.Select(e => e.Serial)));
        return listed.Select(e => e.Serial).ToList();
    }
}
