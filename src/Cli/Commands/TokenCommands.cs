using System.CommandLine;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using Grpc.Core;
using NodeFleet.Cli.Output;
using NodeFleet.Config;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet token create|list|delete`: bootstrap tokens, as `kubeadm token` manages them.</summary>
public static class TokenCommands
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var token = new Command("token", "Manage bootstrap tokens that let new nodes join");
        token.Subcommands.Add(Create(global, env));
        token.Subcommands.Add(List(global, env));
        token.Subcommands.Add(Delete(global, env));
        token.ShowHelpWhenRun();
        return token;
    }

    private static Command Create(GlobalOptions global, CliEnvironment env)
    {
        var tokenArg = new Argument<string>("TOKEN")
        {
            Description = "The token to create, [a-z0-9]{6}.[a-z0-9]{16}; generated when omitted",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var ttl = new Option<string>("--ttl")
        {
            Description = "How long the token is valid, e.g. 24h, 1h30m; 0 means it never expires (default 24h)",
            HelpName = "DURATION",
        };
        var usages = new Option<uint>("--usages")
        {
            Description = "How many nodes may join with the token; 0 means unlimited (default 0)",
            HelpName = "N",
        }.WholeNumber(max: int.MaxValue); // the coordinator counts uses in an int
        var description = new Option<string>("--description") { Description = "Free text shown by token list", HelpName = "TEXT" };
        var printJoin = new Option<bool>("--print-join-command")
        {
            Description = "Print the full `nodefleet-agent join` command instead of just the token",
        };
        var output = CommandSetup.OutputOption("json", "yaml");

        var command = new Command("create", "Create a bootstrap token and print it (the only time its secret is shown)");
        command.Arguments.Add(tokenArg);
        foreach (var o in new Option[] { ttl, usages, description, printJoin, output }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            // Everything the operator typed is checked before connecting, so a typo never reaches the coordinator.
            var request = CreateRequest(p.GetValue(tokenArg), p.GetValue(ttl), p.GetValue(usages), p.GetValue(description));
            var format = Formats.Parse(p.GetValue(output));
            if (p.GetValue(printJoin) && format.IsDocument())
                throw new CliException("--print-join-command cannot be combined with -o");

            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync((c, o) => c.CreateTokenAsync(request, o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, TokenViews.Created(response), format);
            else if (p.GetValue(printJoin)) await env.Out.WriteLineAsync(TokenViews.JoinCommand(response, connection.Address));
            else await env.Out.WriteLineAsync(response.Token);
            return 0;
        });
        return command;
    }

    /// <summary>Builds the request from the raw flags, failing on a malformed token or duration.</summary>
    public static CreateTokenRequest CreateRequest(string? token, string? ttl, uint usages, string? description)
    {
        var request = new CreateTokenRequest { Usages = usages, Description = description ?? "" };
        if (token is not null) request.Token = BootstrapToken.Parse(token).ToString();
        if (ttl is not null)
        {
            // TtlSet distinguishes "--ttl 0" (never expires) from no flag (the coordinator's default).
            request.Ttl = Duration.FromTimeSpan(CommandSetup.ParseDuration(ttl, "--ttl"));
            request.TtlSet = true;
        }
        return request;
    }

    private static Command List(GlobalOptions global, CliEnvironment env)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("list", "List bootstrap tokens (ids only; secrets are never shown again)");
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync((c, o) => c.ListTokensAsync(new ListTokensRequest(), o), ct);
            if (format.IsDocument())
            {
                Formats.Write(env.Out, Formats.List(response.Tokens), format);
            }
            else if (response.Tokens.Count == 0)
            {
                await env.Error.WriteLineAsync("No tokens found.");
            }
            else
            {
                TokenViews.List(response.Tokens, env.Now).WriteTo(env.Out);
            }
            return 0;
        });
        return command;
    }

    private static Command Delete(GlobalOptions global, CliEnvironment env)
    {
        var ids = new Argument<string[]>("ID")
        {
            Description = "Token ids (the part before the dot) or whole tokens",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("delete", "Delete bootstrap tokens so no more nodes can join with them");
        command.Arguments.Add(ids);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var tokenIds = (p.GetValue(ids) ?? []).Select(TokenId).Distinct().ToList();
            using var connection = global.Connect(p, env);
            var failed = false;
            foreach (var id in tokenIds)
            {
                try
                {
                    await connection.CallAsync((c, o) => c.DeleteTokenAsync(new DeleteTokenRequest { Id = id }, o), ct);
                    await env.Out.WriteLineAsync($"token {id} deleted");
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

    /// <summary>A token id, also accepted as a whole "id.secret" token (as kubeadm token delete does).</summary>
    public static string TokenId(string text)
    {
        if (BootstrapToken.TryParse(text, out var token)) return token.Id;
        if (BootstrapToken.IsValidId(text)) return text;
        throw new CliException($"'{text}' is not a token id ([a-z0-9]{{6}}) or a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})");
    }
}
