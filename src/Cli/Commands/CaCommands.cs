using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NodeFleet.Cli.Connection;
using NodeFleet.Cli.Output;
using NodeFleet.Config;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `nodefleet ca rotate start|reissue|finish|status`: the fleet CA's rotation, phase by phase, with each node's progress.
/// The CLI config used keeps up: it trusts both CAs while both are trusted, gets a certificate of the new CA at reissue,
/// and trusts only the new CA after finish.
/// </summary>
public static class CaCommands
{
    public static Command Build(GlobalOptions global, CliEnvironment env)
    {
        var rotate = new Command("rotate", "Rotate the fleet's CA in phases: start, reissue, finish (status at any time)");
        rotate.Subcommands.Add(Phase(global, env, "start",
            "Create the new CA: agents and CLI configs trust both; the old CA still signs; prints the CA hash for new joins",
            (c, o, _) => c.StartAsync(new RotateStartRequest(), o)));
        rotate.Subcommands.Add(Phase(global, env, "reissue",
            "The new CA signs from now on: every node renews its certificate from it over its stream (offline nodes when they return)",
            (c, o, _) => c.ReissueAsync(new RotateReissueRequest(), o)));
        var force = new Option<bool>("--force") { Description = "Finish although nodes or operators still hold certificates of the old CA: they lose access" };
        rotate.Subcommands.Add(Phase(global, env, "finish",
            "Stop trusting the old CA; refused while a node or an operator still holds a certificate of it, unless --force",
            (c, o, p) => c.FinishAsync(new RotateFinishRequest { Force = p.GetValue(force) }, o), force));
        rotate.Subcommands.Add(Phase(global, env, "status", "Where the rotation stands, node by node, and the operators still on the old CA",
            (c, o, _) => c.StatusAsync(new RotateStatusRequest(), o)));
        rotate.ShowHelpWhenRun();
        var ca = new Command("ca", "The fleet's certificate authority");
        ca.Subcommands.Add(rotate);
        ca.ShowHelpWhenRun();
        return ca;
    }

    private static Command Phase(GlobalOptions global, CliEnvironment env, string name, string description,
        Func<CaRotation.CaRotationClient, Grpc.Core.CallOptions, ParseResult, Grpc.Core.AsyncUnaryCall<RotateResponse>> call,
        params Option[] options)
    {
        var output = CommandSetup.OutputOption("json", "yaml");
        var command = new Command(name, description);
        command.Options.Add(output);
        foreach (var o in options) command.Options.Add(o);
        command.SetGuardedAction(env, async (p, ct) =>
        {
            var format = Formats.Parse(p.GetValue(output));
            using var connection = global.Connect(p, env);
            var response = await connection.CallAsync(connection.CaRotation, (c, o) => call(c, o, p), ct);
            var notes = new List<string>();
            // The operator running the rotation keeps working after finish: a certificate of the new CA as soon as it signs.
            if (name == "reissue" || (name == "status" && response.Phase == "reissuing"))
            {
                if (await OperatorConfig.RenewIfOldAsync(connection, response, ct) is { } renewed)
                {
                    notes.Add(renewed);
                    // Shown as it stands now: this operator no longer among those still on the old CA.
                    response = await connection.CallAsync(connection.CaRotation, (c, o) => c.StatusAsync(new RotateStatusRequest(), o), ct);
                }
            }
            if (OperatorConfig.UpdateTrust(connection.ConfigPath, response.TrustBundlePem)) notes.Add($"{connection.ConfigPath} now trusts {CaBundle.Parse(response.TrustBundlePem).Count} CA(s)");
            if (format.IsDocument()) Formats.Write(env.Out, Formats.ToNode(response), format);
            else Write(env.Out, response);
            foreach (var n in notes) await env.Error.WriteLineAsync(n);
            return 0;
        });
        return command;
    }

    private static void Write(TextWriter o, RotateResponse r)
    {
        o.WriteLine($"Phase:          {r.Phase}");
        o.WriteLine($"Active CA:      generation {r.Active?.Generation} {r.Active?.Hash}");
        if (r.Other is { } other) o.WriteLine($"Also trusted:   generation {other.Generation} {other.Hash}");
        o.WriteLine($"Join CA hash:   {r.JoinCaHash} (for `nodefleet-agent join --ca-cert-hash`)");
        var counts = r.Nodes.GroupBy(n => n.State).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}");
        o.WriteLine($"Nodes:          {(r.Nodes.Count == 0 ? "none" : string.Join(", ", counts))}");
        if (r.Operators.Count > 0)
            o.WriteLine($"Operators:      {r.Operators.Count} still on the old CA: each runs `nodefleet admin renew` with its config (or `nodefleet admin revoke NAME`) before finish");
        if (r.Nodes.Count > 0)
        {
            o.WriteLine();
            var table = new Table(["NODE", "CA GENERATION", "STATE", "STATUS", "ERROR"]);
            foreach (var n in r.Nodes)
                table.AddRow([n.Name, n.Generation.ToString(System.Globalization.CultureInfo.InvariantCulture), n.State, n.Status, n.Error.Length > 0 ? n.Error : "-"]);
            table.WriteTo(o);
        }
        if (r.Operators.Count == 0) return;
        o.WriteLine();
        var operators = new Table(["OPERATOR (OLD CA)", "ROLE", "SERIAL", "EXPIRES"]);
        foreach (var c in r.Operators)
            operators.AddRow([c.Name, c.Role, c.Serial, c.ExpiresAt.ToDateTime().ToString("yyyy-MM-dd HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture)]);
        operators.WriteTo(o);
    }
}

/// <summary>The CLI's own config through a CA rotation and at renewal (`nodefleet admin renew`).</summary>
public static class OperatorConfig
{
    /// <summary>Renews the config's certificate when it is not from the CA that signs now; a note for the operator, or null.</summary>
    public static async Task<string?> RenewIfOldAsync(CliConnection connection, RotateResponse status, CancellationToken ct)
    {
        var config = ClientConfig.Load(connection.ConfigPath);
        using var cert = config.ClientCertificate();
        var active = CaBundle.Parse(status.TrustBundlePem)[0];
        if (Pki.ChainsTo(cert, active, CertificateUsage.Client, DateTimeOffset.UtcNow)) return null;
        var (serial, expires) = await RenewAsync(connection, ct);
        return $"{connection.ConfigPath}: renewed its certificate from the new CA (serial {serial}, valid until {expires:yyyy-MM-dd HH:mm}Z)";
    }

    /// <summary>A new key and certificate for the config's operator, written into the config with the CAs to trust.</summary>
    public static async Task<(string Serial, DateTime ExpiresAt)> RenewAsync(CliConnection connection, CancellationToken ct)
    {
        using var key = Pki.NewKey();
        var config = ClientConfig.Load(connection.ConfigPath);
        using var current = config.ClientCertificate();
        var csr = new CertificateRequest(current.SubjectName, key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var response = await connection.CallAsync(new OperatorRenewal.OperatorRenewalClient(connection.Channel),
            (c, o) => c.RenewAsync(new RenewOperatorRequest { Csr = csr }, o), ct);
        var renewed = ClientConfig.Create(config.Coordinator, response.TrustBundlePem, response.Certificate, Pki.KeyToPem(key));
        try { renewed.Save(connection.ConfigPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{connection.ConfigPath}: {e.Message} (certificate {response.Serial} was issued but not saved; run `nodefleet admin renew` again)");
        }
        return (response.Serial, response.ExpiresAt.ToDateTime());
    }

    /// <summary>Makes the config trust <paramref name="bundlePem"/>; false when it already did.</summary>
    public static bool UpdateTrust(string path, string bundlePem)
    {
        if (bundlePem.Length == 0) return false;
        var config = ClientConfig.Load(path);
        var current = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(config.CertificateAuthorityData.Trim()));
        if (current == bundlePem) return false;
        config.SetCaBundle(bundlePem);
        config.Save(path);
        return true;
    }
}
