using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Tokens;

/// <summary>Bootstrap tokens: create, list, delete, and the checks a join makes against them.</summary>
public sealed class TokenService(ICoordinatorStore store, TimeProvider time)
{
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(24);

    /// <summary>
    /// Joins with a wrong secret after which a token id is locked. A secret has 16 characters of 36: nobody guesses one
    /// in ten tries, so ten wrong ones mean someone is trying, and the token is not to be trusted any more.
    /// </summary>
    public const int LockAfterFailures = 10;

    /// <summary>Counts a join with a wrong secret against the token, locking it at <see cref="LockAfterFailures"/>; true when this locked it.</summary>
    public Task<bool> CountWrongSecretAsync(string id) => store.WriteAsync(s =>
    {
        if (s.Tokens.Get(id) is not { } t || t.LockedAt is not null) return false;
        t.FailedAttempts++;
        if (t.FailedAttempts >= LockAfterFailures) t.LockedAt = time.GetUtcNow().UtcDateTime;
        s.Tokens.Update(t);
        return t.LockedAt is not null;
    });

    /// <summary>Stores a new token (given or generated) and returns it with its record.</summary>
    public async Task<(BootstrapToken Token, TokenRecord Record)> CreateAsync(string? given, TimeSpan? ttl, int usages,
        string description)
    {
        BootstrapToken token;
        if (string.IsNullOrEmpty(given)) token = BootstrapToken.Generate();
        else
        {
            try { token = BootstrapToken.Parse(given); }
            catch (FormatException e) { throw new InvalidArgumentException(e.Message); }
        }
        if (usages < 0) throw new InvalidArgumentException("usages must be 0 (unlimited) or more");
        var effectiveTtl = ttl ?? DefaultTtl;
        if (effectiveTtl < TimeSpan.Zero) throw new InvalidArgumentException("ttl must not be negative");
        var now = StoredTime.Of(time.GetUtcNow().UtcDateTime);
        var record = new TokenRecord
        {
            Id = token.Id,
            SecretHash = token.SecretHash(),
            DiscoveryKey = token.DiscoveryKey(),
            CreatedAt = now,
            ExpiresAt = effectiveTtl == TimeSpan.Zero ? null : now + effectiveTtl,
            UsagesLimit = usages,
            Description = description,
        };
        await store.WriteAsync(s =>
        {
            if (s.Tokens.Get(token.Id) is not null)
                throw new AlreadyExistsException($"a token with id {token.Id} already exists");
            s.Tokens.Insert(record);
        });
        return (token, record);
    }

    public IReadOnlyList<TokenRecord> List() => store.Tokens.List();

    public async Task DeleteAsync(string id)
    {
        if (!BootstrapToken.IsValidId(id))
            throw new InvalidArgumentException($"'{id}' is not a token id ([a-z0-9]{{6}})");
        var deleted = await store.WriteAsync(s => s.Tokens.Delete(id));
        if (!deleted) throw new NotFoundException($"token {id} not found");
    }

    /// <summary>The record of a usable token id, or an error saying why it is not usable.</summary>
    public TokenRecord RequireUsable(string id) => CheckUsable(store.Tokens.Get(id), id);

    /// <summary>Checks a full token (id and secret) against the store; used inside the join write.</summary>
    public TokenRecord CheckUsable(TokenRecord? record, string id)
    {
        if (record is null)
            throw new PermissionDeniedException($"token {id} is not known to the coordinator (deleted, or never created)");
        if (record.LockedAt is { } locked)
            throw new PermissionDeniedException($"token {id} was locked at {locked:yyyy-MM-ddTHH:mm:ssZ} after {record.FailedAttempts} " +
                "joins with a wrong secret; delete it and create a new one with `nodefleet token create`");
        var now = time.GetUtcNow().UtcDateTime;
        if (record.ExpiresAt is { } exp && exp <= now)
            throw new PermissionDeniedException($"token {id} expired at {exp:yyyy-MM-ddTHH:mm:ssZ}; create a new one with `nodefleet token create`");
        if (record.UsagesLimit > 0 && record.UsagesUsed >= record.UsagesLimit)
            throw new PermissionDeniedException(
                $"token {id} has no uses left (limit {record.UsagesLimit}); create a new one with `nodefleet token create`");
        return record;
    }

    /// <summary>Removes tokens that expired more than a day ago (kept that long so a late join can be told why).</summary>
    /// <param name="lease">The singleton lease it runs under, checked in the write (null: the only coordinator).</param>
    public Task<int> PurgeExpiredAsync(Lease? lease = null)
    {
        var cutoff = time.GetUtcNow().UtcDateTime - TimeSpan.FromDays(1);
        return store.WriteAsync(s =>
        {
            if (lease is not null) s.RequireLease(lease);
            return s.Tokens.DeleteExpiredBefore(cutoff);
        });
    }
}
