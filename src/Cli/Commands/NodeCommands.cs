using System.CommandLine;
using Grpc.Core;
using NodeFleet.Cli.Output;
using NodeFleet.Labels;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet nodes` and `nodefleet node list|describe|label|delete`: the fleet's nodes.</summary>
public static class NodeCommands
{
    /// <summary>The top-level `nodes` shortcut for `node list`.</summary>
    public static Command BuildNodes(GlobalOptions global, CliEnvironment env) =>
        List("nodes", "List nodes (same as `node list`)", global, env);

    public static Command BuildNode(GlobalOptions global, CliEnvironment env)
    {
        var node = new Command("node", "Inspect, label and remove nodes");
        node.Subcommands.Add(List("list", "List nodes", global, env));
        node.Subcommands.Add(Describe(global, env));
        node.Subcommands.Add(Label(global, env));
        node.Subcommands.Add(Delete(global, env));
        node.Subcommands.Add(Cancel(global, env));
        node.ShowHelpWhenRun();
        return node;
    }

    private static Command List(string name, string description, GlobalOptions global, CliEnvironment env)
    {
        var selector = new Option<string>("--selector", "-l")
        {
            Description = "Label selector, e.g. env=prod,zone!=a,gpu,!spot,tier in (web,api)",
            HelpName = "SELECTOR",
        };
        var output = CommandSetup.OutputOption("wide", "json", "yaml");
        var command = new Command(name, description);
        command.Options.Add(selector);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var selectorText = p.GetValue(selector) ?? "";
            LabelSelector.Parse(selectorText); // a bad selector is reported before connecting
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            // Only the wide table shows the Kubernetes side, which costs one Node list per cluster.
            var request = new ListNodesRequest { LabelSelector = selectorText, Kubernetes = format == OutputFormat.Wide };
            var response = await connection.CallAsync((c, o) => c.ListNodesAsync(request, o), ct);
            if (format.IsDocument())
            {
                Formats.Write(env.Out, Formats.List(response.Nodes.OrderBy(n => n.Name, StringComparer.Ordinal)), format);
            }
            else if (response.Nodes.Count == 0)
            {
                await env.Error.WriteLineAsync("No nodes found.");
            }
            else
            {
                NodeViews.List(response.Nodes, env.Now, wide: format == OutputFormat.Wide, response.Kubernetes).WriteTo(env.Out);
            }
            return 0;
        });
        return command;
    }

    private static Command Describe(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "Node name" };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("describe", "Show a node's status, facts, certificate and recent events");
        command.Arguments.Add(name);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var request = new GetNodeRequest { Name = p.GetValue(name) ?? "" };
            var description = await connection.CallAsync((c, o) => c.DescribeNodeAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(description), format);
            else await env.Out.WriteAsync(NodeDescribeView.Render(description, env.Now));
            return 0;
        });
        return command;
    }

    private static Command Label(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "Node name" };
        var changes = new Argument<string[]>("LABEL")
        {
            Description = "key=value to set a label, key- to remove one",
            Arity = ArgumentArity.OneOrMore,
        };
        var overwrite = new Option<bool>("--overwrite") { Description = "Allow changing the value of an existing label" };
        var command = new Command("label", "Set or remove node labels (key=value ... key- ...)");
        command.Arguments.Add(name);
        command.Arguments.Add(changes);
        command.Options.Add(overwrite);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var parsed = LabelChanges.Parse(p.GetValue(changes) ?? []);
            var request = new LabelNodeRequest { Name = p.GetValue(name) ?? "", Overwrite = p.GetValue(overwrite) };
            foreach (var (key, value) in parsed.Set) request.Set[key] = value;
            request.Remove.AddRange(parsed.Remove);
            using var connection = global.Connect(p, env);
            // The labels before and after tell whether anything changed ("not labeled", as kubectl says); the answer
            // stays the Node it always was, so that CLI and coordinator of different versions understand each other.
            var before = await connection.CallAsync((c, o) => c.GetNodeAsync(new GetNodeRequest { Name = request.Name }, o), ct);
            var node = await connection.CallAsync((c, o) => c.LabelNodeAsync(request, o), ct);
            var changed = !before.Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .SequenceEqual(node.Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal));
            await env.Out.WriteLineAsync($"node/{node.Name} {(changed ? "labeled" : "not labeled")}");
            return 0;
        });
        return command;
    }

    private static Command Delete(GlobalOptions global, CliEnvironment env)
    {
        var names = new Argument<string[]>("NAME")
        {
            Description = "Node names",
            Arity = ArgumentArity.OneOrMore,
        };
        // Accepted so scripts written with it keep working; delete never prompts.
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation (delete never asks)", Hidden = true };
        var command = new Command("delete", "Remove nodes from the fleet and disconnect their agents");
        command.Arguments.Add(names);
        command.Options.Add(yes);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            using var connection = global.Connect(p, env);
            var failed = false;
            foreach (var name in (p.GetValue(names) ?? []).Distinct(StringComparer.Ordinal))
            {
                try
                {
                    await connection.CallAsync((c, o) => c.DeleteNodeAsync(new DeleteNodeRequest { Name = name }, o), ct);
                    await env.Out.WriteLineAsync($"node {name} deleted");
                }
                catch (CliException e) when (e.Code is StatusCode.NotFound or StatusCode.InvalidArgument)
                {
                    // Like kubectl delete: report this one and carry on with the rest; the exit code tells.
                    await env.Error.WriteLineAsync($"error: {e.Message}");
                    failed = true;
                }
            }
            return failed ? 1 : 0;
        });
        return command;
    }

    private static Command Cancel(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "Node name" };
        var reason = new Option<string>("--reason") { Description = "Why, kept in the node's events and the run's error" };
        var command = new Command("cancel",
            "Stop the plan run a node is executing at its current step; the run fails and is undone like any failed run");
        command.Arguments.Add(name);
        command.Options.Add(reason);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            using var connection = global.Connect(p, env);
            var request = new CancelRunRequest { Node = p.GetValue(name) ?? "", Reason = p.GetValue(reason) ?? "" };
            var r = await connection.CallAsync((c, o) => c.CancelRunAsync(request, o), ct);
            await env.Out.WriteLineAsync(
                $"cancel sent to node {r.Node} for run {r.RunId} (plan {r.PlanName} generation {r.Generation}" +
                $"{(r.Phase.Length > 0 ? $", in {r.Phase}" : "")}): it stops at its current step and undoes the run; " +
                $"follow it with `nodefleet node describe {r.Node}`");
            return 0;
        });
        return command;
    }
}
