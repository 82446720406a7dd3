namespace NodeFleet.Coordinator.Errors;

/// <summary>
/// Why the coordinator refused a request, in domain terms. Domain services and the store throw these; only the gRPC
/// edge (<see cref="NodeFleet.Coordinator.Services.DomainErrorInterceptor"/>) turns them into status codes. The message
/// is what the operator reads.
/// </summary>
public abstract class DomainException(string message) : Exception(message);

/// <summary>The request itself is malformed (a bad name, a bad selector, an invalid plan).</summary>
public sealed class InvalidArgumentException(string message) : DomainException(message);

/// <summary>What the request names does not exist.</summary>
public sealed class NotFoundException(string message) : DomainException(message);

/// <summary>Something with the same identity exists already (a token id, a node name held by another key).</summary>
public sealed class AlreadyExistsException(string message) : DomainException(message);

/// <summary>
/// A write lost a race: the record changed (its revision moved) or disappeared since it was read. Retrying from a
/// fresh read may succeed.
/// </summary>
public class ConflictException(string message) : DomainException(message);

/// <summary>A write was made under a lease that has expired or been taken over: the writer must stop acting.</summary>
public sealed class LeaseLostException(string message) : ConflictException(message);

/// <summary>The system is not in a state that allows the request (a node busy, a rollout not paused).</summary>
public sealed class FailedPreconditionException(string message) : DomainException(message);

/// <summary>The caller may not do this (an unknown token, a certificate no longer valid).</summary>
public class PermissionDeniedException(string message) : DomainException(message);

/// <summary>A bootstrap token's id with a secret that is not its own: a guess, counted against the token.</summary>
public sealed class WrongTokenSecretException(string tokenId, string message) : PermissionDeniedException(message)
{
    public string TokenId { get; } = tokenId;
}

/// <summary>Too many attempts from one caller: it must wait before it tries again.</summary>
public sealed class TooManyAttemptsException(string message) : DomainException(message);

/// <summary>Something the request waited for did not happen in time (a node's dry-run answer).</summary>
public sealed class DeadlineExceededException(string message) : DomainException(message);
