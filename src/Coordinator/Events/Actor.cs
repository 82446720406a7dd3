namespace NodeFleet.Coordinator.Events;

/// <summary>
/// Who the change being made is for, recorded in its events: set for the length of an API call from the caller's
/// certificate (the operator's name, or "node/NAME"); without one, the coordinator decided it itself. Carried by the
/// async flow, and into a store write by the store, so no domain method needs an actor parameter.
/// </summary>
public static class Actor
{
    public const string Coordinator = "coordinator";

    private static readonly AsyncLocal<string?> Ambient = new();

    /// <summary>The caller of the current API call; null outside one.</summary>
    public static string? Current => Ambient.Value;

    public static string ForNode(string node) => $"node/{node}";

    /// <summary>Sets the actor for the rest of this async flow (an API call's handler).</summary>
    public static void Set(string? actor) => Ambient.Value = actor;

    /// <summary>Runs <paramref name="action"/> as <paramref name="actor"/>, then restores the previous one.</summary>
    public static T Run<T>(string? actor, Func<T> action)
    {
        var previous = Ambient.Value;
        Ambient.Value = actor;
        try { return action(); }
        finally { Ambient.Value = previous; }
    }
}
