using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Duration = Google.Protobuf.WellKnownTypes.Duration;
using NodeFleet.Cli.Output;
using NodeFleet.Config;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Cli.Commands;

/// <summary>`nodefleet admin issue|list|revoke`: operator certificates and their roles (viewer, operator, admin).</summary>
public static class AdminCommands
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var admin = new Command("admin", "Manage operator certificates: issue a CLI config with a role, list them, revoke them");
        admin.Subcommands.Add(Issue(global, env));
        admin.Subcommands.Add(List(global, env));
        admin.Subcommands.Add(Revoke(global, env));
        admin.Subcommands.Add(Renew(global, env));
        admin.ShowHelpWhenRun();
        return admin;
    }

    private static Command Issue(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "The operator's name: the certificate's CN, shown as the ACTOR of the changes made with it" };
        var role = new Option<string>("--role")
        {
            Description = "viewer (reads everything), operator (also plans, rollouts, labels, cancel) or admin (also tokens, clusters, certificates, operators, node delete)",
            HelpName = "ROLE",
            Required = true,
        };
        role.AcceptOnlyFromAmong(OperatorRoles.Viewer, OperatorRoles.Operator, OperatorRoles.Admin);
        var ttl = new Option<string>("--ttl") { Description = "How long the certificate is valid, e.g. 720h (the default), 8h", HelpName = "DURATION" };
        var file = new Option<string>("--output-file", "-o")
        {
            Description = "Where to write the CLI config (mode 0600: it holds the private key)",
            HelpName = "FILE",
            Required = true,
        };
        var force = new Option<bool>("--force") { Description = "Replace FILE if it exists" };
        var command = new Command("issue", "Issue an operator certificate with a role and write a CLI config for it (the key is made here and never sent)");
        command.Arguments.Add(name);
        foreach (var o in new Option[] { role, ttl, file, force }) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var operatorName = p.GetValue(name) ?? "";
            var path = p.GetValue(file) ?? "";
            if (File.Exists(path) && !p.GetValue(force))
                throw new CliException($"-o {path}: the file exists; pass --force to replace it");
            var request = new IssueAdminRequest { Name = operatorName, Role = p.GetValue(role) ?? "" };
            if (p.GetValue(ttl) is { } ttlText) request.Ttl = Duration.FromTimeSpan(CommandSetup.ParseDuration(ttlText, "--ttl"));
            using var key = Pki.NewKey();
            request.Csr = new CertificateRequest(new X500DistinguishedName($"CN={operatorName}"), key, HashAlgorithmName.SHA256)
                .CreateSigningRequestPem();

            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Admins, (c, o) => c.IssueAsync(request, o), ct);
            // The address this CLI reached the coordinator at, which the coordinator's serving certificate names.
            var config = ClientConfig.Create(connection.Address, response.CaCertificate, response.Certificate, Pki.KeyToPem(key));
            try { config.Save(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"-o {path}: {e.Message} (certificate {response.Info.Serial} was issued; `nodefleet admin revoke {operatorName}` withdraws it)");
            }
            await env.Out.WriteLineAsync(
                $"{response.Info.Role} certificate {response.Info.Serial} issued to {response.Info.Name}, valid until " +
                $"{TimeText.Rfc3339(response.Info.ExpiresAt.ToDateTimeOffset())}; CLI config written to {path}");
            return 0;
        });
        return command;
    }

    private static Command List(GlobalOptions global, CliEnvironment env)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command("list", "List the operator certificates: name, role, serial, expiry, revocation");
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Admins, (c, o) => c.ListAsync(new ListAdminsRequest(), o), ct);
            if (format.IsDocument()) Formats.Write(env.Out, Formats.List(response.Admins), format);
            else if (response.Admins.Count == 0) await env.Error.WriteLineAsync("No operator certificates found.");
            else AdminViews.List(response.Admins, env.Now).WriteTo(env.Out);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Renews the certificate of the CLI config in use, in place: same name and role, a new key, as long a lifetime as
    /// it had. Explicit rather than automatic: the config is a file an operator may have copied or put under control.
    /// </summary>
    private static Command Renew(GlobalOptions global, CliEnvironment env)
    {
        var command = new Command("renew",
            "Renew this CLI config's certificate (new key, same name and role, from the CA that signs now) and the CAs it trusts; any role may");
        command.SetGuardedAction(env, async (p, ct) =>
        {
            using var connection = global.Connect(p, env);
            var (serial, expires) = await OperatorConfig.RenewAsync(connection, ct);
            await env.Out.WriteLineAsync($"{connection.ConfigPath}: certificate renewed, serial {serial}, valid until {TimeText.Rfc3339(new DateTimeOffset(expires, TimeSpan.Zero))}");
            return 0;
        });
        return command;
    }

    private static Command Revoke(GlobalOptions global, CliEnvironment env)
    {
        var name = new Argument<string>("NAME") { Description = "The operator whose certificates to revoke" };
        var reason = new Option<string>("--reason") { Description = "Recorded with the revocation and in its event", HelpName = "TEXT" };
        var command = new Command("revoke", "Revoke every certificate issued to an operator: its CLI config is refused from its next call");
        command.Arguments.Add(name);
        command.Options.Add(reason);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var request = new RevokeAdminRequest { Name = p.GetValue(name) ?? "", Reason = p.GetValue(reason) ?? "" };
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.Admins, (c, o) => c.RevokeAsync(request, o), ct);
            await env.Out.WriteLineAsync($"operator {request.Name} revoked: certificate{(response.Serials.Count == 1 ? "" : "s")} {string.Join(", ", response.Serials)}");
            return 0;
        });
        return command;
    }
}
