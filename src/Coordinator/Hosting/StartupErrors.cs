using System.Net.Sockets;
using NodeFleet.Config;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>A condition that stops a coordinator command; its message, which names what and where, is shown as is.</summary>
public sealed class StartupException(string message) : Exception(message);

/// <summary>Which failures of a coordinator command are the operator's to fix, and how they are told.</summary>
public static class StartupErrors
{
    /// <summary>
    /// The one-line message for a failure an operator can act on, or null for one that is a bug (whose trace must
    /// then be kept).
    /// </summary>
    public static string? Describe(Exception e) => e switch
    {
        StartupException or ConfigException => e.Message,
        // Kestrel failing to bind, when the address was taken between the check (ListenCheck) and the start.
        IOException when Inner<SocketException>(e) is not null => $"cannot listen: {e.Message.TrimEnd('.')}",
        // The environment, not the program: .NET's messages name the path.
        IOException or UnauthorizedAccessException => e.Message,
        _ => null,
    };

    private static T? Inner<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T t) return t;
        }
        return null;
    }
}
