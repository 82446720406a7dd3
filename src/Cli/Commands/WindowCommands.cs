using System.CommandLine;
using NodeFleet.Cli.Output;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet window set|list|delete`: when rollouts may start the disruptive phases of the nodes a window covers.</summary>
public static class WindowCommands
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var window = new Command("window", "Manage maintenance windows: rollouts start a node's disruptive phases only inside a window that covers it");
        window.Subcommands.Add(Set(global, env));
        window.Subcommands.Add(List(global, env));
        window.Subcommands.Add(Delete(global, env));
        window.ShowHelpWhenRun();
        return window;
    }

    private static Command Set(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "The window's name (a DNS-1123 label)" };
        var selector = new Option<string>("--selector", "-l") { Description = "The nodes it covers (label selector; default every node)", HelpName = "SELECTOR" };
        var schedule = new Option<string>("--schedule")
        {
            Description = "Days and hours: 'Sat,Sun 02:00-06:00', 'Mon-Fri 22:00-04:00' (crosses midnight), parts joined with ';'",
            HelpName = "SCHEDULE",
            Required = true,
        };
        var timeZone = new Option<string>("--timezone") { Description = "IANA time zone of the hours (default UTC), e.g. Europe/Berlin", HelpName = "ZONE" };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("set", "Create or replace a maintenance window");
        command.Arguments.Add(name);
        foreach (var o in new Option[] { selector, schedule, timeZone, output }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            var selectorText = (p.GetValue(selector) ?? "").Trim();
            LabelSelector.Parse(selectorText);
            var request = new SetWindowRequest
            {
                Name = p.GetValue(name) ?? "", Selector = selectorText, Schedule = p.GetValue(schedule) ?? "",
                TimeZone = p.GetValue(timeZone) ?? "UTC",
            };
            using var connection = global.Connect(p, env);
            var set = await connection.CallAsync(connection.Windows, (c, o) => c.SetAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(set), format);
            else await env.Out.WriteLineAsync($"window {set.Name} set: {set.Schedule} ({set.TimeZone}) on {(set.Selector.Length > 0 ? $"nodes {set.Selector}" : "every node")}; {set.Status}");
            return 0;
        });
        return command;
    }

    private static Command List(GlobalOptions global, CliEnvironment env)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("list", "List the maintenance windows, each open or when it opens next");
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Windows, (c, o) => c.ListAsync(new ListWindowsRequest(), o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.List(response.Windows), format);
            else if (response.Windows.Count == 0) await env.Error.WriteLineAsync("No maintenance windows: rollouts start nodes at any time.");
            else
            {
                var table = new Table("NAME", "SELECTOR", "SCHEDULE", "TIMEZONE", "NOW");
                foreach (var w in response.Windows)
                    table.AddRow(w.Name, w.Selector.Length > 0 ? w.Selector : "<every node>", w.Schedule, w.TimeZone, w.Status);
                table.WriteTo(env.Out);
            }
            return 0;
        });
        return command;
    }

    private static Command Delete(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "The window's name" };
        var command = new Command("delete", "Delete a maintenance window (refused while an active rollout names it as its own)");
        command.Arguments.Add(name);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var request = new DeleteWindowRequest { Name = p.GetValue(name) ?? "" };
            using var connection = global.Connect(p, env);
            await connection.CallAsync(connection.Windows, (c, o) => c.DeleteAsync(request, o), ct);
            await env.Out.WriteLineAsync($"window {request.Name} deleted");
            return 0;
        });
        return command;
    }
}
