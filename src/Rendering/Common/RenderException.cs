namespace NodeFleet.Rendering;

/// <summary>A renderer refused its input: an existing file it cannot merge into, or settings it cannot express.</summary>
public sealed class RenderException : Exception
{
    public RenderException(string message) : base(message) { }

    public RenderException(string message, Exception inner) : base(message, inner) { }
}
