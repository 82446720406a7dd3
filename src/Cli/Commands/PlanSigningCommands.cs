using System.CommandLine;
using System.Security.Cryptography;
using NodeFleet.IO;
using NodeFleet.Plans;
using NodeFleet.Security;

namespace NodeFleet.Cli.Commands;

/// <summary>
/// `nodefleet plan keygen` and `nodefleet plan sign`: an operator's signing key, kept away from the coordinator, and
/// the signature beside a plan file (PLAN.yaml.sig) that apply, diff and rollout start send with the plan.
/// </summary>
public static class PlanSigningCommands
{
    public static Command Keygen(CliEnvironment env)
    {
        var output = new Option<string>("--out")
        {
            Description = "Where to write the private key (mode 0600); the public key goes to the same path + .pub",
            HelpName = "FILE",
            Required = true,
        };
        var command = new Command("keygen",
            "Create a plan signing key (ECDSA P-256) and print the hash agents pin with `nodefleet-agent join --plan-signer-hash`");
        command.Options.Add(output);
        command.SetGuardedAction(env, async (p, _) =>
        {
            var path = p.GetValue(output)!;
            var publicPath = path + ".pub";
            foreach (var existing in new[] { path, publicPath })
            {
                if (File.Exists(existing)) throw new CliException($"{existing} already exists; keygen never overwrites a key (remove it first)");
            }
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            AtomicFile.WriteAllText(path, key.ExportPkcs8PrivateKeyPem(), AtomicFile.Private);
            AtomicFile.WriteAllText(publicPath, key.ExportSubjectPublicKeyInfoPem(), AtomicFile.Public);
            var hash = KeyHash.Of(key.ExportSubjectPublicKeyInfo());
            await env.Out.WriteLineAsync($"private key: {path} (keep it off the coordinator)");
            await env.Out.WriteLineAsync($"public key:  {publicPath}");
            await env.Out.WriteLineAsync($"signer hash: {hash}");
            await env.Out.WriteLineAsync($"Pin it on nodes with `nodefleet-agent join ... --plan-signer-hash {hash}` (or planSigners in /etc/nodefleet/agent.yaml).");
            return 0;
        });
        return command;
    }

    public static Command Sign(CliEnvironment env)
    {
        var file = new Argument<string>("FILE") { Description = "Plan file (YAML, kind NodePlan)" };
        var keyOption = new Option<string>("--key") { Description = "Private key from `nodefleet plan keygen`", HelpName = "FILE", Required = true };
        var command = new Command("sign", "Sign a plan file; the signature is written beside it as FILE.sig and sent with the plan");
        command.Arguments.Add(file);
        command.Options.Add(keyOption);
        command.SetGuardedAction(env, async (p, _) =>
        {
            var path = p.GetValue(file)!;
            var result = PlanLoader.LoadFile(path);
            foreach (var error in result.Errors) await env.Error.WriteLineAsync($"error: {error}");
            if (result.Plan is not { } plan) return 1;
            using var key = LoadKey(p.GetValue(keyOption)!);
            var signature = PlanSignatures.Sign(plan, key);
            var written = PlanSignatureFile.Save(path, signature);
            await env.Out.WriteLineAsync($"signed {path} by {signature.Signer}: {written}");
            return 0;
        });
        return command;
    }

    /// <summary>The P-256 private key in <paramref name="path"/>, refused when others may read it or it is not one.</summary>
    private static ECDsa LoadKey(string path)
    {
        if (!File.Exists(path)) throw new CliException($"signing key {path} does not exist (create one with `nodefleet plan keygen --out {path}`)");
        var mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            throw new CliException($"signing key {path} may be read by others (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}): chmod 600 it");
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (key.KeySize != 256) throw new CliException($"signing key {path} is a {key.KeySize}-bit key; plans are signed with ECDSA P-256 keys");
            key.ExportParameters(includePrivateParameters: true);
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new CliException($"signing key {path} is not an ECDSA private key in PEM: {e.Message}");
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}
