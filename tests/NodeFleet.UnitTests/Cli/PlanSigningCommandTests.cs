using NodeFleet.Plans;
using NodeFleet.Tests.Plans;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Cli.CliRun;

namespace NodeFleet.Tests.Cli;

/// <summary>`nodefleet plan keygen|sign`, and the checks `plan validate` and `plan apply` make with a signature beside a plan.</summary>
public sealed class PlanSigningCommandTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string CopyPlan(string name = "plan.yaml")
    {
        var path = _dir.File(name);
        File.Copy(PlanTestData.PathOf("valid-full.yaml"), path);
        return path;
    }

    [Fact]
    public async Task Keygen_writes_a_private_key_0600_and_prints_the_hash_agents_pin()
    {
        var key = _dir.File("signing.key");
        var (code, stdout, stderr) = await Run("plan", "keygen", "--out", key);

        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        using var pub = System.Security.Cryptography.ECDsa.Create();
        pub.ImportFromPem(await File.ReadAllTextAsync(key + ".pub"));
        var hash = NodeFleet.Security.KeyHash.Of(pub.ExportSubjectPublicKeyInfo());
        Assert.Contains($"signer hash: {hash}\n", stdout);
        Assert.Contains($"--plan-signer-hash {hash}", stdout);

        var again = await Run("plan", "keygen", "--out", key);
        Assert.Equal(1, again.Code);
        Assert.Contains("already exists; keygen never overwrites a key", again.Err);
    }

    [Fact]
    public async Task Sign_writes_the_signature_beside_the_plan_and_validate_checks_it()
    {
        var key = _dir.File("signing.key");
        await Run("plan", "keygen", "--out", key);
        var plan = CopyPlan();

        var (code, stdout, stderr) = await Run("plan", "sign", plan, "--key", key);

        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.EndsWith($": {plan}.sig\n", stdout);
        var loaded = PlanLoader.LoadFile(plan).Plan!;
        Assert.NotNull(PlanSignatureFile.Load(plan, loaded));
        Assert.Equal(0, (await Run("plan", "validate", plan)).Code);

        // Changed after signing: every command that reads the plan says so, before anything is sent.
        await File.WriteAllTextAsync(plan, (await File.ReadAllTextAsync(plan)).Replace("v1.31.2", "v1.31.3"));
        var stale = await Run("plan", "validate", plan);
        Assert.Equal(1, stale.Code);
        Assert.Contains($"error: {plan}.sig does not match {plan}: the plan changed after it was signed", stale.Err);
    }

    [Fact]
    public async Task Sign_refuses_a_key_others_may_read()
    {
        var key = _dir.File("signing.key");
        await Run("plan", "keygen", "--out", key);
        File.SetUnixFileMode(key, File.GetUnixFileMode(key) | UnixFileMode.OtherRead);

        var (code, _, stderr) = await Run("plan", "sign", CopyPlan(), "--key", key);

        Assert.Equal(1, code);
        Assert.Contains("may be read by others (mode 0604): chmod 600 it", stderr);
    }

    [Fact]
    public async Task A_plan_that_installs_systemctl_is_refused_by_the_cli_with_its_line()
    {
        var plan = CopyPlan();
        var text = await File.ReadAllTextAsync(plan);
        await File.WriteAllTextAsync(plan, text.Replace("installPath: /usr/bin/kubelet", "installPath: /usr/bin/systemctl"));

        var (code, _, stderr) = await Run("plan", "validate", plan);

        Assert.Equal(1, code);
        Assert.Matches($"^error: {System.Text.RegularExpressions.Regex.Escape(plan)}:[0-9]+: spec.artifacts\\[0\\].installPath: '/usr/bin/systemctl': systemctl is not a binary a node upgrade installs", stderr);
    }

    [Fact]
    public async Task A_plan_that_sets_pod_manifest_path_is_refused_by_the_cli()
    {
        var plan = CopyPlan();
        var text = await File.ReadAllTextAsync(plan);
        await File.WriteAllTextAsync(plan, text.Replace("extraArgs: {", "extraArgs: {pod-manifest-path: /etc/evil, "));

        var (code, _, stderr) = await Run("plan", "validate", plan);

        Assert.Equal(1, code);
        Assert.Contains("spec.kubelet.extraArgs.pod-manifest-path: --pod-manifest-path is refused: it makes the kubelet run static pods", stderr);
    }
}
