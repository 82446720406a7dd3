using System.CommandLine;
using System.Text.Json.Nodes;
using NodeFleet.Cli.Connection;
using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet version`: this client's version and, when a config is present, the coordinator's.</summary>
public static class VersionCommand
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var clientOnly = new Option<bool>("--client") { Description = "Print only the client version; do not contact the coordinator" };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("version", "Print the client and coordinator versions");
        command.Options.Add(clientOnly);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            string? coordinatorVersion = null;
            CliException? failure = null;
            // Without any config there is no coordinator to ask: that is not an error for `version`.
            var path = p.GetValue(clientOnly) ? null : ConfigLocator.TryLocate(p.GetValue(global.Config), env);
            if (path is not null)
            {
                try
                {
                    using var connection = CliConnection.Open(path, p.GetValue(global.Coordinator));
                    var info = await connection.CallAsync((c, o) => c.GetClusterInfoAsync(new GetClusterInfoRequest(), o), ct);
                    coordinatorVersion = info.Version;
                }
                catch (Exception e) when (CommandSetup.ErrorMessage(e, ct) is { } message)
                {
                    failure = e as CliException ?? new CliException(message);
                }
            }

            // The client version is printed even when the coordinator cannot be asked; the failure follows it.
            if (format.IsDocument())
            {
                var doc = new JsonObject { ["clientVersion"] = BuildInfo.Version };
                if (coordinatorVersion is not null) doc["coordinatorVersion"] = coordinatorVersion;
                Formats.Write(env.Out, doc, format);
            }
            else
            {
                await env.Out.WriteLineAsync($"Client Version: {BuildInfo.Version}");
                if (coordinatorVersion is not null) await env.Out.WriteLineAsync($"Coordinator Version: {coordinatorVersion}");
            }
            if (failure is not null) throw failure;
            return 0;
        });
        return command;
    }
}
