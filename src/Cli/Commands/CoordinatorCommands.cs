using System.CommandLine;
using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet coordinators`: the coordinators sharing the store, which of them holds the singleton lease.</summary>
public static class CoordinatorCommands
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("coordinators",
            "List the coordinators sharing the store: address, version, connected agents, lease held, last seen");
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Coordinators, (c, o) => c.ListAsync(new ListCoordinatorsRequest(), o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.List(response.Coordinators), format);
            else if (response.Coordinators.Count == 0) await env.Error.WriteLineAsync("No coordinators have registered yet.");
            else CoordinatorViews.List(response.Coordinators, env.Now).WriteTo(env.Out);
            return 0;
        });
        return command;
    }
}
