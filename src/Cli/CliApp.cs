using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using NodeFleet.Cli.Commands;

namespace NodeFleet.Cli;

/// <summary>The `nodefleet` command tree and its entry point.</summary>
public static class CliApp
{
    public static RootCommand CreateRoot(CliEnvironment env)
    {
        var global = new GlobalOptions();
        var root = new RootCommand($"nodefleet {BuildInfo.Version}: manage the nodes of a NodeFleet cluster");
        global.AddTo(root);
        root.Subcommands.Add(TokenCommands.Build(global, env));
        root.Subcommands.Add(NodeCommands.BuildNodes(global, env));
        root.Subcommands.Add(NodeCommands.BuildNode(global, env));
        root.Subcommands.Add(PlanCommands.Build(global, env));
        root.Subcommands.Add(RolloutCommands.Build(global, env));
        root.Subcommands.Add(ClusterCommands.Build(global, env));
        root.Subcommands.Add(WindowCommands.Build(global, env));
        root.Subcommands.Add(EventsCommands.Build(global, env));
        root.Subcommands.Add(AdminCommands.Build(global, env));
        root.Subcommands.Add(CoordinatorCommands.Build(global, env));
        root.Subcommands.Add(CaCommands.Build(global, env));
        root.Subcommands.Add(VersionCommand.Build(global, env));
        root.ShowHelpWhenRun();
        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliEnvironment env, CancellationToken ct = default)
    {
        var result = CreateRoot(env).Parse(args);
        if (result.Action is ParseErrorAction)
        {
            // Same shape as every other failure ("error: ..."), plus where to look, instead of a full help dump.
            foreach (var error in result.Errors) await env.Error.WriteLineAsync($"error: {error.Message}");
            await env.Error.WriteLineAsync($"Run '{CommandPath(result.CommandResult)} --help' for usage.");
            return 1;
        }
        return await result.InvokeAsync(new InvocationConfiguration { Output = env.Out, Error = env.Error }, ct);
    }

    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? r = command; r is not null; r = r.Parent)
        {
            if (r is CommandResult c) names.Insert(0, c.Command is RootCommand ? "nodefleet" : c.Command.Name);
        }
        return string.Join(' ', names);
    }
}
