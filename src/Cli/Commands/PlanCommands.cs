using System.CommandLine;
using NodeFleet.Cli.Output;
using NodeFleet.Config;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `nodefleet plan validate|images`: node plans checked and expanded locally, with no coordinator;
/// `nodefleet plan apply|diff`: a plan checked locally the same way, then sent to one node through the coordinator.
/// </summary>
public static class PlanCommands
{
    /// <summary>
    /// DiffPlan waits for the node's answer, which the coordinator gives up on after two minutes; the CLI waits a
    /// little longer so that the coordinator's message, naming the node, is the one shown.
    /// </summary>
    public static readonly TimeSpan DiffTimeout = TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(15);

    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var plan = new Command("plan", "Check node plans, list the images they pre-pull, and diff or apply them on a node");
        plan.Subcommands.Add(Validate(env));
        plan.Subcommands.Add(Images(env));
        plan.Subcommands.Add(Apply(global, env));
        plan.Subcommands.Add(Diff(global, env));
        plan.Subcommands.Add(PlanSigningCommands.Keygen(env));
        plan.Subcommands.Add(PlanSigningCommands.Sign(env));
        plan.ShowHelpWhenRun();
        return plan;
    }

    private static Argument<string> FileArgument() => new("FILE") { Description = "Plan file (YAML, kind NodePlan)" };

    private static Command Validate(CliEnvironment env)
    {
        var file = FileArgument();
        var command = new Command("validate", "Check a plan file and report every error with its line");
        command.Arguments.Add(file);
        command.SetGuardedAction(env, async (p, _) =>
        {
            if (await LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;
            await env.Out.WriteLineAsync(PlanViews.Valid(plan));
            return 0;
        });
        return command;
    }

    private static Command Images(CliEnvironment env)
    {
        var file = FileArgument();
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("images",
            "List the images a plan pre-pulls: spec.images or kubeadm's list for its version, and the sandbox image");
        command.Arguments.Add(file);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, _) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            if (await LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;
            var images = PlanImages.Resolve(plan);
            if (format.IsDocument()) Formats.Write(env.Out, PlanViews.ImagesDocument(images), format);
            else foreach (var image in images) await env.Out.WriteLineAsync(image.ToString());
            return 0;
        });
        return command;
    }

    private static Option<string> NodeOption() => new("--node")
    {
        Description = "The node to send the plan to",
        HelpName = "NAME",
        Required = true,
    };

    private static Option<string[]> IgnorePreflightOption() => new("--ignore-preflight-errors")
    {
        Description = "Preflight checks whose errors become warnings on the node: ID,ID (e.g. Swap,Port-10250) or all",
        HelpName = "ID,...|all",
        AllowMultipleArgumentsPerToken = true,
    };

    private static Command Apply(GlobalOptions global, CliEnvironment env)
    {
        var file = FileArgument();
        var node = NodeOption();
        var ignore = IgnorePreflightOption();
        var wait = new Option<bool>("--wait")
        {
            Description = "Follow the run on the node, printing each step as it finishes, until the plan is applied or has failed",
        };
        var timeout = new Option<string>("--timeout")
        {
            Description = $"With --wait: how long to wait, e.g. 30m (default {Durations.Format(PlanWait.DefaultTimeout)})",
            HelpName = "DURATION",
        };
        var force = new Option<bool>("--force")
        {
            Description = "Apply even though the node is in an active rollout, bypassing its waves and budgets (recorded as a warning event)",
        };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("apply",
            "Check a plan file, store it on the coordinator (a new generation when it changed) and send it to a node");
        command.Arguments.Add(file);
        foreach (var o in new Option[] { node, ignore, wait, timeout, force, output }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            // Flags first, then the plan, then the network: nothing reaches the coordinator that could be refused here.
            var format = Formats.Parse(p.GetValue(output));
            var waitTimeout = WaitTimeout(p.GetValue(wait), p.GetValue(timeout), format);
            if (await LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;
            var request = Request(plan, p.GetValue(node)!, p.GetValue(ignore));
            request.Force = p.GetValue(force);

            using var connection = global.Connect(p, env);
            var describe = new GetNodeRequest { Name = request.Node };
            // The runs before the apply tell the run this apply starts from older runs of the same generation.
            var before = waitTimeout is null ? null : (await connection.CallAsync((c, o) => c.DescribeNodeAsync(describe, o), ct)).Runs;
            var response = await connection.CallAsync((c, o) => c.ApplyPlanAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(response), format);
            else await env.Out.WriteLineAsync(PlanViews.Sent(response));
            if (waitTimeout is not { } limit) return 0;

            if (response.RolloutId.Length > 0)
            {
                // A node in a cluster: its upgrade goes on after the agent's run (wait-ready, uncordon).
                var get = new GetRolloutRequest { Id = response.RolloutId };
                var events = new WatchEventsRequest { Rollout = response.RolloutId, Limit = 1000 };
                return await new ClusterPlanWait(response, before!).RunAsync(
                    c => connection.CallAsync(connection.Rollouts, (client, o) => client.GetAsync(get, o), c),
                    async c => (await connection.CallAsync(connection.Events, (client, o) => client.ListAsync(events, o), c)).Events,
                    c => connection.CallAsync((client, o) => client.DescribeNodeAsync(describe, o), c),
                    limit, env.Time, (d, c) => Task.Delay(d, env.Time, c), env.Out, env.Error, ct);
            }
            return await new PlanWait(response, before!).RunAsync(
                c => connection.CallAsync((client, o) => client.DescribeNodeAsync(describe, o), c),
                limit, env.Time, (d, c) => Task.Delay(d, env.Time, c), env.Out, env.Error, ct);
        });
        return command;
    }

    /// <summary>How long --wait waits, null without --wait; refuses --timeout without --wait and --wait with -o.</summary>
    public static TimeSpan? WaitTimeout(bool wait, string? timeout, OutputFormat format)
    {
        if (!wait)
        {
            if (timeout is not null) throw new CliException("--timeout is only meaningful with --wait");
            return null;
        }
        if (format.IsDocument()) throw new CliException("--wait cannot be combined with -o");
        if (timeout is null) return PlanWait.DefaultTimeout;
        var parsed = CommandSetup.ParseDuration(timeout, "--timeout");
        if (parsed <= TimeSpan.Zero) throw new CliException("--timeout must be more than 0");
        return parsed;
    }

    private static Command Diff(GlobalOptions global, CliEnvironment env)
    {
        var file = FileArgument();
        var node = NodeOption();
        var ignore = IgnorePreflightOption();
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("diff",
            "Check a plan file, then ask a node what applying it would change (files with diffs, restarts, pulls), changing nothing");
        command.Arguments.Add(file);
        foreach (var o in new Option[] { node, ignore, output }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            if (await LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;
            var request = Request(plan, p.GetValue(node)!, p.GetValue(ignore));

            using var connection = global.Connect(p, env);
            var result = await connection.CallAsync((c, o) => c.DiffPlanAsync(request, o), ct, DiffTimeout);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(result), format);
            else await env.Out.WriteAsync(PlanViews.Diff(result));
            var error = result.Error.Length > 0 ? result.Error
                : DryRunVerdict.WouldStop(result.Steps.Select(s => (s.Phase, s.Step, s.Outcome)), $"on node {request.Node}");
            if (error is null) return 0;
            await env.Error.WriteLineAsync($"error: {error}");
            return 1;
        });
        return command;
    }

    /// <summary>The request for apply and diff; --ignore-preflight-errors values may be comma-joined or repeated.</summary>
    public static ApplyPlanRequest Request(NodePlan plan, string node, IEnumerable<string>? ignorePreflightErrors)
    {
        if (string.IsNullOrWhiteSpace(node)) throw new CliException("--node must name a node");
        var request = new ApplyPlanRequest { Plan = plan, Node = node.Trim() };
        request.IgnorePreflightErrors.AddRange(IgnoreList(ignorePreflightErrors ?? []));
        return request;
    }

    /// <summary>"Swap,Port-10250" "all" → [Swap, Port-10250, all]: split on commas, blanks dropped, each once.</summary>
    public static IReadOnlyList<string> IgnoreList(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();

    /// <summary>
    /// The valid plan in <paramref name="path"/>, with the signature beside it (PATH.sig) when there is one, or null
    /// after printing each error as every failure of the CLI is printed: "error: FILE:LINE: path: message", one a line.
    /// A signature that does not match the plan is an error: the nodes that pin its key would refuse the plan.
    /// </summary>
    public static async Task<NodePlan?> LoadAsync(string path, CliEnvironment env)
    {
        var result = PlanLoader.LoadFile(path);
        foreach (var error in result.Errors) await env.Error.WriteLineAsync($"error: {error}");
        if (result.Plan is { } plan && PlanSignatureFile.Load(path, plan) is { } signature) plan.Signature = signature;
        return result.Plan;
    }
}
