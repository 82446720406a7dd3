using Grpc.Core;

namespace NodeFleet.Cli;

/// <summary>A failure to show the operator as "error: message"; <see cref="Code"/> is set when it came from the coordinator.</summary>
public sealed class CliException(string message, StatusCode? code = null) : Exception(message)
{
    public StatusCode? Code { get; } = code;
}
