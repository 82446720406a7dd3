using NodeFleet.Coordinator.Events;

namespace NodeFleet.Coordinator.Store;

/// <summary>
/// A write waiting for a store's writer, which runs it inside a transaction it shares with the writes queued beside it
/// and completes its caller once that transaction has committed. The caller's actor goes with it, for the events it
/// records on the writer's thread.
/// </summary>
internal abstract class QueuedWrite
{
    /// <summary>What the lambda threw, or what undid it; given to the caller by <see cref="Complete"/>.</summary>
    public Exception? Error { get; set; }

    /// <summary>Actions to run once the write has committed (a store that keeps them per write fills this).</summary>
    public List<Action> AfterCommit { get; } = [];

    /// <summary>Runs the lambda; false (and <see cref="Error"/> set) when it threw.</summary>
    public abstract bool Run(IStoreWriter writer);

    /// <summary>Completes the caller with the lambda's result, or its <see cref="Error"/>.</summary>
    public abstract void Complete();

    /// <summary>Fails the caller: its transaction did not commit.</summary>
    public abstract void Fail(Exception e);
}

/// <inheritdoc />
internal sealed class QueuedWrite<T>(Func<IStoreWriter, T> run) : QueuedWrite
{
    private readonly string? _actor = Actor.Current;
    private T _result = default!;

    public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override bool Run(IStoreWriter writer)
    {
        try
        {
            _result = Actor.Run(_actor, () => run(writer));
            return true;
        }
        catch (Exception e)
        {
            Error = e;
            return false;
        }
    }

    public override void Complete()
    {
        if (Error is null) Completion.TrySetResult(_result);
        else Completion.TrySetException(Error);
    }

    public override void Fail(Exception e) => Completion.TrySetException(e);
}
