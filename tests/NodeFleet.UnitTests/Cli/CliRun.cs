using NodeFleet.Cli;
using NodeFleet.Config;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Cli;

/// <summary>Runs the CLI in-process with captured output, and writes a usable admin config for commands that connect.</summary>
internal static class CliRun
{
    public static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var env = new CliEnvironment(stdout, stderr, _ => null, "/nonexistent-home", _ => false, TimeProvider.System);
        var code = await CliApp.RunAsync(args, env);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>An admin.conf with a fresh CA and admin certificate, pointing at <paramref name="coordinator"/>.</summary>
    public static string WriteConfig(TempDir dir, string coordinator)
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "nodefleet-ca", TimeSpan.FromDays(10), now);
        using var adminKey = Pki.NewKey();
        using var admin = Pki.IssueClient(ca, caKey, new System.Security.Cryptography.X509Certificates.PublicKey(adminKey), "admin",
            Roles.Admins, TimeSpan.FromDays(1), now);
        var path = dir.File("admin.conf");
        ClientConfig.Create(coordinator, Pki.ToPem(ca), Pki.ToPem(admin), Pki.KeyToPem(adminKey)).Save(path);
        return path;
    }
}
