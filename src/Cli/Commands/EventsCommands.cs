using System.CommandLine;
using Grpc.Core;
using NodeFleet.Cli.Connection;
using NodeFleet.Cli.Output;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet events [-f]`: what happened in the fleet, like `kubectl get events [-w]`.</summary>
public static class EventsCommands
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 1000;

    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var follow = new Option<bool>("--follow", "-f")
        {
            Description = "After the recent events, print each new one as it happens, until Ctrl+C",
        };
        var node = new Option<string>("--node") { Description = "Only events about this node", HelpName = "NAME" };
        var rollout = new Option<string>("--rollout") { Description = "Only events of this rollout", HelpName = "ID" };
        var limit = new Option<int>("--limit")
        {
            Description = $"How many recent events to show (0-{MaxLimit}; with -f, 0 shows only new ones)",
            HelpName = "N",
            DefaultValueFactory = _ => DefaultLimit,
        }.WholeNumber(0, MaxLimit);
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("events", "List fleet events (joins, online/offline, labels, plans, rollouts); -f to follow them");
        foreach (var o in new Option[] { follow, node, rollout, limit, output }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            var request = new WatchEventsRequest
            {
                Node = p.GetValue(node) ?? "",
                Rollout = p.GetValue(rollout) ?? "",
                Limit = p.GetValue(limit),
            };
            using var connection = global.Connect(p, env);
            if (p.GetValue(follow)) return await FollowAsync(connection, request, format, env, ct);

            var response = await connection.CallAsync(connection.Events, (c, o) => c.ListAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.List(response.Events), format);
            else if (response.Events.Count == 0) await env.Error.WriteLineAsync("No events found.");
            else EventViews.List(response.Events, env.Now).WriteTo(env.Out);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Prints the events the watch sends (the recent ones, then each new one) as they arrive: table lines, JSON
    /// Lines, or a stream of YAML documents. Ends with 0 when the operator interrupts it.
    /// </summary>
    private static async Task<int> FollowAsync(CliConnection connection, WatchEventsRequest request, OutputFormat format,
        CliEnvironment env, CancellationToken ct)
    {
        var lines = new EventLines();
        var headerPrinted = false;
        try
        {
            using var call = connection.Events.Watch(request, new CallOptions(cancellationToken: ct));
            await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
            {
                switch (format)
                {
                    case OutputFormat.Json:
                        await env.Out.WriteAsync(Formats.ToJsonLine(Formats.ToNode(e)));
                        break;
                    case OutputFormat.Yaml:
                        await env.Out.WriteAsync("---\n" + Formats.ToYaml(Formats.ToNode(e)));
                        break;
                    default:
                        if (!headerPrinted) await env.Out.WriteAsync(lines.Header());
                        headerPrinted = true;
                        await env.Out.WriteAsync(lines.Line(e, env.Now));
                        break;
                }
                await env.Out.FlushAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RpcException)
        {
            return 0; // Ctrl+C: the operator is done watching
        }
        catch (RpcException e)
        {
            throw await connection.TranslateAsync(e, CliConnection.CallTimeout, ct);
        }
        throw new CliException($"the coordinator at {connection.Address} ended the event stream (is it shutting down?)");
    }
}
