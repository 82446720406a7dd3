using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using NodeFleet.Cli.Connection;
using NodeFleet.Cli.Output;
using NodeFleet.Config;
using NodeFleet.Labels;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;
using Duration = Google.Protobuf.WellKnownTypes.Duration;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `nodefleet rollout start|status|list|history|describe|pause|resume|abort|rollback`: one plan across the nodes a
/// selector picks, in waves, under an availability and error budget, driven by the coordinator.
/// </summary>
public static class RolloutCommands
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>Clears a terminal and puts the cursor top left, before each frame of `status -w`.</summary>
    public const string ClearScreen = "\u001b[H\u001b[2J";

    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var rollout = new Command("rollout", "Roll a plan out across the fleet in waves, follow it, pause, resume, abort or roll it back");
        rollout.Subcommands.Add(Start(global, env));
        rollout.Subcommands.Add(Status(global, env));
        rollout.Subcommands.Add(List("list", "List active rollouts", includeFinished: false, global, env));
        rollout.Subcommands.Add(List("history", "List all rollouts, finished ones included, newest first", includeFinished: true, global, env));
        rollout.Subcommands.Add(Describe(global, env));
        rollout.Subcommands.Add(Action("pause", "Pause a rollout: no node starts until it is resumed (nodes running go on)", "paused",
            global, env, (c, r, o) => c.PauseAsync(r, o)));
        var accept = new Option<bool>("--accept-failures")
        {
            Description = "Go on past the nodes failed so far (they stay failed and are not retried; only new failures count against the " +
                "error budget). Required to resume a rollout paused by its error budget or a failed canary",
        };
        rollout.Subcommands.Add(Action("resume",
            "Resume a paused rollout where it stopped; one held by its failures (error budget spent, canary failed) needs --accept-failures",
            "resumed", global, env, (c, r, o) => c.ResumeAsync(r, o), accept));
        rollout.Subcommands.Add(Action("abort", "Stop a rollout for good: nodes not started are skipped (nodes running go on)", "aborted",
            global, env, (c, r, o) => c.AbortAsync(r, o)));
        rollout.Subcommands.Add(Skip(global, env));
        rollout.Subcommands.Add(Action("rollback", "Undo the plan on the nodes that applied it, last wave first (pause or abort it first)",
            "rolling back", global, env, (c, r, o) => c.RollbackAsync(r, o)));
        rollout.ShowHelpWhenRun();
        return rollout;
    }

    private static Argument<string> IdArgument() => new("ID") { Description = "Rollout id (see `nodefleet rollout list`)" };

    private static Command Start(GlobalOptions global, CliEnvironment env)
    {
        var file = new Argument<string>("FILE") { Description = "Plan file (YAML, kind NodePlan)" };
        var selector = new Option<string>("--selector", "-l")
        {
            Description = "The nodes to roll out to: a label selector, e.g. role=worker,zone!=a",
            HelpName = "SELECTOR",
            Required = true,
        };
        var canary = new Option<int>("--canary")
        {
            Description = "Nodes in the first wave, which must all succeed before any other node starts; 0 for none (default 1)",
            HelpName = "N",
            DefaultValueFactory = _ => 1,
        }.WholeNumber(0);
        var maxUnavailable = new Option<string>("--max-unavailable")
        {
            Description = "Most nodes being changed (or offline) at once, and the size of a wave: N or N% of the nodes (default 1)",
            HelpName = "N|N%",
        };
        var maxFailures = new Option<string>("--max-failures")
        {
            Description = "Failed nodes that pause the rollout: N or N% of the nodes (default 1)",
            HelpName = "N|N%",
        };
        var pause = new Option<string>("--pause-between-waves")
        {
            Description = "Wait this long after a wave before starting the next, e.g. 5m (default 0)",
            HelpName = "DURATION",
        };
        var deadlines = new Option<string[]>("--phase-deadline")
        {
            Description = "Longest a node may stay in a phase, counted from when it entered it, e.g. prepull-images=20m; repeat or " +
                "comma-join. A node past it fails (and counts against --max-failures). An offline node fails once offline longer than " +
                "its phase's deadline, or the sum of the deadlines when its phase has none (30m when none is given)",
            HelpName = "PHASE=DURATION",
            AllowMultipleArgumentsPerToken = true,
        };
        var noPrepare = new Option<bool>("--no-prepare-ahead")
        {
            Description = "Do not run the non-disruptive phases (preflight, stage-artifacts, prepull-images) on every node before the waves",
        };
        var prepareConcurrency = new Option<int?>("--prepare-concurrency")
        {
            Description = "How many nodes prepare at once (default 50)",
            HelpName = "N",
        }.WholeNumber(1);
        var ignore = new Option<string[]>("--ignore-preflight-errors")
        {
            Description = "Preflight checks whose errors become warnings on the nodes: ID,ID (e.g. Swap,Port-10250) or all",
            HelpName = "ID,...|all",
            AllowMultipleArgumentsPerToken = true,
        };
        var gates = new GateOptions();
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the waves the rollout would run, on which nodes and in which maintenance windows; start nothing" };
        var window = new Option<string>("--window")
        {
            Description = "Start nodes only inside this maintenance window (`nodefleet window list`), whatever its selector; default: each node's own windows",
            HelpName = "NAME",
        };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("start",
            "Check a plan file, then roll it out to the selected nodes: a canary first, then waves of at most --max-unavailable nodes");
        command.Arguments.Add(file);
        foreach (var o in new Option[] { selector, canary, maxUnavailable, maxFailures, pause, deadlines, noPrepare, prepareConcurrency, ignore, window, dryRun, output })
            command.Options.Add(o);
        gates.AddTo(command);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            // Flags first, then the plan, then the network: nothing reaches the coordinator that could be refused here.
            var format = Formats.Parse(p.GetValue(output));
            var strategy = Strategy(p.GetValue(canary), p.GetValue(maxUnavailable), p.GetValue(maxFailures), p.GetValue(pause),
                p.GetValue(deadlines), p.GetValue(noPrepare), p.GetValue(prepareConcurrency));
            gates.Apply(p, strategy);
            strategy.Window = (p.GetValue(window) ?? "").Trim();
            var selectorText = (p.GetValue(selector) ?? "").Trim();
            LabelSelector.Parse(selectorText);
            var ignored = PlanCommands.IgnoreList(p.GetValue(ignore) ?? []);
            if (await PlanCommands.LoadAsync(p.GetValue(file)!, env) is not { } plan) return 1;

            var request = new StartRolloutRequest { Plan = plan, Selector = selectorText, Strategy = strategy, DryRun = p.GetValue(dryRun) };
            request.IgnorePreflightErrors.AddRange(ignored);
            using var connection = global.Connect(p, env);
            var rollout = await connection.CallAsync(connection.Rollouts, (c, o) => c.StartAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, request.DryRun ? DryRunDocument(rollout) : Formats.ToNode(rollout), format);
            else if (request.DryRun) await env.Out.WriteAsync(RolloutViews.DryRun(rollout));
            else
            {
                await env.Out.WriteLineAsync(RolloutViews.Started(rollout));
                await env.Out.WriteLineAsync(RolloutViews.WatchHint(rollout.Id));
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// A dry run's answer as a document: "dryRun": true, and no id, generation or times, which only a stored rollout
    /// has (a coordinator from before dry_run existed still fills them in).
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject DryRunDocument(Rollout rollout)
    {
        var node = Formats.ToNode(rollout);
        foreach (var key in new[] { "id", "generation", "createdAt", "updatedAt" }) node.Remove(key);
        node["dryRun"] = true;
        return node;
    }

    /// <summary>
    /// The strategy from the raw flags, every value checked. Canary, max unavailable and max failures are always
    /// set: proto3 cannot tell an explicit 0 from unset, and the coordinator honours canary 0 only next to the others.
    /// </summary>
    public static RolloutStrategy Strategy(int canary, string? maxUnavailable, string? maxFailures, string? pauseBetweenWaves,
        IEnumerable<string>? phaseDeadlines, bool noPrepareAhead, int? prepareConcurrency)
    {
        if (canary < 0) throw new CliException($"--canary {canary.ToString(CultureInfo.InvariantCulture)} must be 0 or more");
        var strategy = new RolloutStrategy
        {
            Canary = canary,
            MaxUnavailable = Budget(maxUnavailable ?? "1", "--max-unavailable"),
            MaxFailures = Budget(maxFailures ?? "1", "--max-failures"),
            NoPrepareAhead = noPrepareAhead,
        };
        if (pauseBetweenWaves is not null)
            strategy.PauseBetweenWaves = Duration.FromTimeSpan(CommandSetup.ParseDuration(pauseBetweenWaves, "--pause-between-waves"));
        foreach (var (phase, deadline) in PhaseDeadlines(phaseDeadlines ?? []))
            strategy.PhaseDeadlines[phase] = Duration.FromTimeSpan(deadline);
        if (prepareConcurrency is { } concurrency)
        {
            if (concurrency < 1) throw new CliException($"--prepare-concurrency {concurrency.ToString(CultureInfo.InvariantCulture)} must be 1 or more");
            if (noPrepareAhead) throw new CliException("--prepare-concurrency cannot be combined with --no-prepare-ahead");
            strategy.PrepareConcurrency = concurrency;
        }
        return strategy;
    }

    /// <summary>A budget checked by the coordinator's own rules (<see cref="Budgets.Budget"/>), returned as it is sent.</summary>
    public static string Budget(string text, string flag)
    {
        try { return Budgets.Budget.Parse(text, flag).ToString(); }
        catch (FormatException e) { throw new CliException(e.Message); }
    }

    /// <summary>"prepull-images=20m,verify=2m" (comma-joined or repeated) → phase and deadline, each phase known and once.</summary>
    public static IReadOnlyList<(string Phase, TimeSpan Deadline)> PhaseDeadlines(IEnumerable<string> values)
    {
        var result = new List<(string Phase, TimeSpan Deadline)>();
        foreach (var item in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var eq = item.IndexOf('=');
            if (eq <= 0) throw new CliException($"--phase-deadline '{item}' must be PHASE=DURATION, e.g. prepull-images=20m");
            var phase = item[..eq].Trim();
            if (!PlanPhases.IsKnown(phase))
                throw new CliException($"--phase-deadline: unknown phase '{phase}' (phases: {string.Join(", ", PlanPhases.All)})");
            if (result.Any(r => r.Phase == phase)) throw new CliException($"--phase-deadline: phase '{phase}' given twice");
            var deadline = CommandSetup.ParseDuration(item[(eq + 1)..], "--phase-deadline");
            if (deadline <= TimeSpan.Zero) throw new CliException($"--phase-deadline: the deadline of {phase} must be more than 0");
            result.Add((phase, deadline));
        }
        return result;
    }

    private static Command Status(GlobalOptions global, CliEnvironment env)
    {
        var id = new Argument<string>("ID")
        {
            Description = "Rollout id; default: the most recent active rollout",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var watch = new Option<bool>("--watch", "-w")
        {
            Description = "Follow the rollout until it succeeds, fails, is aborted or rolled back (exit 0 for succeeded or rolled back, else 1)",
        };
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("status", "Show where a rollout stands: state, wave, failures, nodes per state and phase, failed nodes");
        command.Arguments.Add(id);
        command.Options.Add(watch);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            var following = p.GetValue(watch);
            if (following && format.IsDocument()) throw new CliException("--watch cannot be combined with -o");
            using var connection = global.Connect(p, env);
            var rolloutId = p.GetValue(id) is { Length: > 0 } given ? given : await MostRecentActiveAsync(connection, ct);
            Task<Rollout> Get(CancellationToken c) =>
                connection.CallAsync(connection.Rollouts, (client, o) => client.GetAsync(new GetRolloutRequest { Id = rolloutId }, o), c);

            if (following)
            {
                // On a terminal each poll redraws the view; into a pipe or file only what changed is appended.
                var redraw = ReferenceEquals(TerminalWriter.Unwrap(env.Out), Console.Out) && !Console.IsOutputRedirected;
                return await WatchAsync(Get, redraw, env.Time, (d, c) => Task.Delay(d, env.Time, c), env.Out, env.Error, ct);
            }
            var rollout = await Get(ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(rollout), format);
            else await env.Out.WriteAsync(RolloutViews.Status(rollout, env.Now));
            return 0;
        });
        return command;
    }

    /// <summary>The id of the newest active rollout, or an error saying there is none.</summary>
    private static async Task<string> MostRecentActiveAsync(CliConnection connection, CancellationToken ct)
    {
        var response = await connection.CallAsync(connection.Rollouts, (c, o) => c.ListAsync(new ListRolloutsRequest(), o), ct);
        return RolloutViews.Newest(response.Rollouts).FirstOrDefault()?.Id
            ?? throw new CliException("no active rollout; name one (`nodefleet rollout history` lists them all)");
    }

    /// <summary>
    /// Polls <paramref name="get"/> every <see cref="PollInterval"/> until the rollout reaches a final state, showing
    /// it each time: redrawn whole when <paramref name="redraw"/> (a terminal), else as <see cref="RolloutLog"/> lines.
    /// A paused rollout is watched on (the operator may resume it). Returns 0 when it succeeded or was rolled back;
    /// a <see cref="CliException"/> when it failed or was aborted. A coordinator that cannot be reached for a while is
    /// reported once and polled again.
    /// </summary>
    public static async Task<int> WatchAsync(Func<CancellationToken, Task<Rollout>> get, bool redraw, TimeProvider time,
        Func<TimeSpan, CancellationToken, Task> delay, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var log = new RolloutLog();
        string? warned = null;
        while (true)
        {
            try
            {
                var rollout = await get(ct);
                warned = null;
                if (redraw)
                {
                    // The clear is the CLI's own sequence; the status, text from the coordinator, stays escaped.
                    await TerminalWriter.WriteControlAsync(output, ClearScreen);
                    await output.WriteAsync(RolloutViews.Status(rollout, time.GetUtcNow()));
                }
                else await output.WriteAsync(log.Observe(rollout));
                await output.FlushAsync(CancellationToken.None);
                if (rollout.Final)
                {
                    await output.WriteLineAsync(Outcome(rollout));
                    return 0;
                }
            }
            catch (CliException e) when (e.Code is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !ct.IsCancellationRequested)
            {
                if (e.Message != warned) await error.WriteLineAsync($"warning: {e.Message}; still watching");
                warned = e.Message;
            }
            await delay(PollInterval, ct);
        }
    }

    /// <summary>
    /// The closing line of a watch: "rollout ID succeeded: 10 node(s) updated" or "rollout ID rolled back: …"; for a
    /// failed or aborted rollout, a <see cref="CliException"/> saying so.
    /// </summary>
    public static string Outcome(Rollout r)
    {
        var why = r.StateReason.Length > 0 ? $": {r.StateReason}" : "";
        return r.State switch
        {
            RolloutState.Succeeded => $"rollout {r.Id} succeeded{why}",
            RolloutState.RolledBack => $"rollout {r.Id} rolled back{why}",
            RolloutState.Aborted => throw new CliException($"rollout {r.Id} was aborted{why}"),
            _ => throw new CliException($"rollout {r.Id} failed{why} (see `nodefleet rollout describe {r.Id}`)"),
        };
    }

    private static Command List(string name, string description, bool includeFinished, GlobalOptions global, CliEnvironment env)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command(name, description);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            // Every page, so a long history never makes one oversized answer.
            var all = new List<Rollout>();
            var request = new ListRolloutsRequest { IncludeFinished = includeFinished };
            do
            {
                var response = await connection.CallAsync(connection.Rollouts, (c, o) => c.ListAsync(request, o), ct);
                all.AddRange(response.Rollouts);
                request.PageToken = response.NextPageToken;
            }
            while (request.PageToken.Length > 0);
            var rollouts = RolloutViews.Newest(all).ToList();
            if (format.IsDocument()) Formats.Write(env.Out, Formats.List(rollouts), format);
            else if (rollouts.Count == 0) await env.Error.WriteLineAsync(includeFinished ? "No rollouts found." : "No active rollouts.");
            else RolloutViews.List(rollouts, env.Now).WriteTo(env.Out);
            return 0;
        });
        return command;
    }

    private static Command Describe(GlobalOptions global, CliEnvironment env)
    {
        var id = IdArgument();
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("describe", "Show a rollout in full: its strategy and every node with its wave, state, phase, duration and message");
        command.Arguments.Add(id);
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var request = new GetRolloutRequest { Id = p.GetValue(id) ?? "" };
            var rollout = await connection.CallAsync(connection.Rollouts, (c, o) => c.GetAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(rollout), format);
            else await env.Out.WriteAsync(RolloutViews.Describe(rollout, env.Now));
            return 0;
        });
        return command;
    }

    /// <summary>`rollout skip ID NODE`: a node not started yet (held by a blocking pod, say) is left out of the rollout.</summary>
    private static Command Skip(GlobalOptions global, CliEnvironment env)
    {
        var id = IdArgument();
        var node = new Argument<string>("NODE") { Description = "The node to skip: one not started yet, e.g. held back by a blocking pod" };
        var reason = new Option<string>("--reason") { Description = "Why, recorded in the node's message and its event", HelpName = "TEXT" };
        var command = new Command("skip", "Leave a node not started yet out of a rollout (it is not changed, nor counted failed); the rollout goes on without it");
        command.Arguments.Add(id);
        command.Arguments.Add(node);
        command.Options.Add(reason);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var request = new RolloutActionRequest { Id = p.GetValue(id) ?? "", Node = p.GetValue(node) ?? "", Reason = p.GetValue(reason)?.Trim() ?? "" };
            using var connection = global.Connect(p, env);
            var rollout = await connection.CallAsync(connection.Rollouts, (c, o) => c.SkipAsync(request, o), ct);
            await env.Out.WriteLineAsync($"node {request.Node} skipped in rollout {rollout.Id}");
            return 0;
        });
        return command;
    }

    private static Command Action(string name, string description, string verb, GlobalOptions global, CliEnvironment env,
        Func<Rollouts.RolloutsClient, RolloutActionRequest, CallOptions, AsyncUnaryCall<Rollout>> call, Option<bool>? acceptFailures = null)
    {
        var id = IdArgument();
        var reason = new Option<string>("--reason") { Description = "Why, recorded with the rollout and in its events", HelpName = "TEXT" };
        var command = new Command(name, description);
        command.Arguments.Add(id);
        command.Options.Add(reason);
        if (acceptFailures is not null) command.Options.Add(acceptFailures);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var request = new RolloutActionRequest
            {
                Id = p.GetValue(id) ?? "", Reason = p.GetValue(reason)?.Trim() ?? "",
                AcceptFailures = acceptFailures is not null && p.GetValue(acceptFailures),
            };
            using var connection = global.Connect(p, env);
            var rollout = await connection.CallAsync(connection.Rollouts, (c, o) => call(c, request, o), ct);
            await env.Out.WriteLineAsync(RolloutViews.Acted(rollout, verb));
            if (name is "resume" or "rollback") await env.Out.WriteLineAsync(RolloutViews.WatchHint(rollout.Id));
            return 0;
        });
        return command;
    }
}
