using NodeFleet.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// The packages as users get them: packaging/build.sh (amd64: the Native AOT agent, the single-file coordinator
/// and CLI, .deb and .rpm), then lintian, rpmlint and rpm inspection (packaging/test/lint-test.sh), then install,
/// join, a plan, upgrade and purge under a real systemd booted in a container (packaging/test/systemd-test.sh).
/// Alone in its collection: the AOT build takes both cores for minutes, which timing-sensitive tests running
/// beside it would feel.
/// </summary>
[Collection(PackagingCollection.Name)]
public sealed class PackagingTests(PackagesFixture packages, ITestOutputHelper output)
{
    [Fact]
    public async Task Debs_and_rpms_pass_lintian_rpmlint_and_inspection()
    {
        var r = await Run(Path.Combine(Binaries.RepoRoot, "packaging", "test", "lint-test.sh"), [packages.Dist], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("lint-test: ", r.StdOut);
        Assert.Contains(" 0 failed", r.StdOut);
    }

    [Fact]
    public async Task Debs_install_join_apply_upgrade_and_purge_under_a_real_systemd()
    {
        var r = await Run(Path.Combine(Binaries.RepoRoot, "packaging", "test", "systemd-test.sh"), [packages.Dist], TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("systemd-test: ", r.StdOut);
        Assert.Contains(" 0 failed", r.StdOut);
        Assert.DoesNotContain("not ok", r.StdOut);
    }

    private async Task<ProcResult> Run(string script, string[] args, TimeSpan timeout)
    {
        var r = await Proc.RunAsync(script, args, timeout: timeout);
        output.WriteLine(r.StdOut);
        if (r.StdErr.Length > 0) output.WriteLine(r.StdErr);
        return r;
    }
}

/// <summary>
/// Builds the amd64 packages once (packaging/build.sh) for the packaging tests, into a directory of this run's
/// own (not the checkout's dist/, which a developer's build or another run may be using); removed afterwards.
/// </summary>
public sealed class PackagesFixture : IAsyncLifetime
{
    public string Dist { get; } = Directory.CreateTempSubdirectory("nodefleet-packages-").FullName;

    public async Task InitializeAsync()
    {
        var r = await Proc.RunAsync(Path.Combine(Binaries.RepoRoot, "packaging", "build.sh"), ["--arch", "amd64", "--out", Dist],
            timeout: TimeSpan.FromMinutes(25));
        if (r.ExitCode != 0) throw new InvalidOperationException($"packaging/build.sh failed:\n{r}");
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Dist, recursive: true); }
        catch (IOException) { }
        return Task.CompletedTask;
    }
}

/// <summary>Runs the packaging tests on their own, after the parallel collections.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingCollection : ICollectionFixture<PackagesFixture>
{
    public const string Name = "packaging";
}
