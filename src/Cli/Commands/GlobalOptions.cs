using System.CommandLine;
using NodeFleet.Cli.Connection;

namespace NodeFleet.Cli.Commands;

/// <summary>Options every command accepts: which config to use and which coordinator to talk to.</summary>
public sealed class GlobalOptions
{
    public Option<string> Config { get; } = new("--config")
    {
        Description = $"CLI config file (default: ${ConfigLocator.EnvironmentVariable}, ~/.nodefleet/config, {ConfigLocator.SystemPath})",
        HelpName = "FILE",
        Recursive = true,
    };

    public Option<string> Coordinator { get; } = new("--coordinator")
    {
        Description = "Coordinator address, overriding the one in the config",
        HelpName = "HOST:PORT",
        Recursive = true,
    };

    public void AddTo(Command root)
    {
        root.Options.Add(Config);
        root.Options.Add(Coordinator);
    }

    /// <summary>Connects with the config the flags and environment select; fails when there is none.</summary>
    public CliConnection Connect(ParseResult p, CliEnvironment env) =>
        CliConnection.Open(ConfigLocator.Locate(p.GetValue(Config), env), p.GetValue(Coordinator));
}
