using System.Text.Json;
using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>One coordinator with a joined node, shared by the role tests (the classes run side by side).</summary>
public sealed class RolesCluster : IAsyncLifetime
{
    public TestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await TestCluster.StartAsync();
        await Cluster.JoinedOnlineAgentAsync("r1", "--labels", "role=worker");
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>Issues a CLI config for <paramref name="name"/> with the admin config and returns its path.</summary>
    public async Task<string> IssueAsync(string name, string role)
    {
        var path = Path.Combine(Cluster.Scratch, $"{name}.conf");
        var issued = await Cluster.CliOkAsync("admin", "issue", name, "--role", role, "--ttl", "2h", "-o", path);
        Assert.Contains($"{role} certificate", issued);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        return path;
    }

    /// <summary>Runs the CLI with the config at <paramref name="config"/>.</summary>
    public Task<ProcResult> CliAsAsync(string config, params string[] args) =>
        Proc.RunAsync(Binaries.Cli, args, new Dictionary<string, string> { ["NODEFLEET_CONFIG"] = config });

    /// <summary>The events (as `events -o json` prints them) with the given reason.</summary>
    public async Task<List<JsonElement>> EventsAsync(string reason)
    {
        using var doc = JsonDocument.Parse(await Cluster.CliOkAsync("events", "--limit", "1000", "-o", "json"));
        return doc.RootElement.GetProperty("items").EnumerateArray()
            .Where(e => e.TryGetProperty("reason", out var r) && r.GetString() == reason)
            .Select(e => e.Clone()).ToList();
    }
}

/// <summary>Operator roles over the wire: real coordinator and CLI processes, configs from `nodefleet admin issue`.</summary>
public sealed class OperatorRoleTests(RolesCluster fixture) : IClassFixture<RolesCluster>
{
    private TestCluster Cluster => fixture.Cluster;

    private async Task<string> PlanFileAsync()
    {
        var path = Path.Combine(Cluster.Scratch, "roles-plan.yaml");
        await File.WriteAllTextAsync(path, AgentApplyTests.Plan);
        return path;
    }

    [Fact]
    public async Task A_viewer_reads_but_may_not_start_a_rollout_an_operator_may_and_both_are_recorded_with_their_actor()
    {
        var viewer = await fixture.IssueAsync("vera", "viewer");
        var op = await fixture.IssueAsync("oscar", "operator");
        var plan = await PlanFileAsync();

        var nodes = await fixture.CliAsAsync(viewer, "nodes");
        Assert.True(nodes.ExitCode == 0, nodes.ToString());
        Assert.Contains("r1", nodes.StdOut);

        var refused = await fixture.CliAsAsync(viewer, "rollout", "start", plan, "-l", "role=worker");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal("error: permission denied: viewer may not start rollouts (vera; needs operator)\n", refused.StdErr);

        var started = await fixture.CliAsAsync(op, "rollout", "start", plan, "-l", "role=worker", "-o", "json",
            "--ignore-preflight-errors", "all");
        Assert.True(started.ExitCode == 0, started.ToString());
        var id = JsonDocument.Parse(started.StdOut).RootElement.GetProperty("id").GetString();

        var denied = Assert.Single(await fixture.EventsAsync("PermissionDenied"), e => e.GetProperty("actor").GetString() == "vera");
        Assert.Contains("/nodefleet.v1.Rollouts/Start", denied.GetProperty("message").GetString());
        var created = Assert.Single(await fixture.EventsAsync("RolloutCreated"), e => e.GetProperty("rollout").GetString() == id);
        Assert.Equal("oscar", created.GetProperty("actor").GetString());
        // The node's own reports are its changes; the table shows the column.
        Assert.Contains(await fixture.EventsAsync("Online"), e => e.GetProperty("actor").GetString() == "node/r1");
        Assert.Contains(await fixture.EventsAsync("Joined"), e => e.GetProperty("actor").GetString() == "node/r1");
        var table = await Cluster.CliOkAsync("events");
        Assert.Contains("ACTOR", table.Split('\n')[0]);
        Assert.Contains("oscar", table);
    }

    [Fact]
    public async Task An_operator_may_not_create_tokens()
    {
        var op = await fixture.IssueAsync("otto", "operator");
        var refused = await fixture.CliAsAsync(op, "token", "create");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal("error: permission denied: operator may not create tokens (otto; needs admin)\n", refused.StdErr);
        var labelled = await fixture.CliAsAsync(op, "node", "label", "r1", "team=blue");
        Assert.True(labelled.ExitCode == 0, labelled.ToString());
    }

    [Fact]
    public async Task A_revoked_operator_config_is_refused_at_its_next_call_and_listed_as_revoked()
    {
        var config = await fixture.IssueAsync("rita", "viewer");
        var before = await fixture.CliAsAsync(config, "nodes");
        Assert.True(before.ExitCode == 0, before.ToString());

        var self = await Cluster.CliAsync("admin", "revoke", "admin");
        Assert.Equal("error: 'admin' is the operator making this call: revoke it with another admin's config\n", self.StdErr);
        var revoked = await Cluster.CliOkAsync("admin", "revoke", "rita", "--reason", "left the team");
        Assert.StartsWith("operator rita revoked: certificate ", revoked);

        var after = await fixture.CliAsAsync(config, "nodes");
        Assert.NotEqual(0, after.ExitCode);
        Assert.Equal($"error: the coordinator at {Cluster.Address} rejected the client certificate in {config}: the coordinator does not " +
            "trust it (was it revoked, by `nodefleet admin revoke`, or the CA replaced since the config was written?)\n", after.StdErr);

        using var list = JsonDocument.Parse(await Cluster.CliOkAsync("admin", "list", "-o", "json"));
        var rita = Assert.Single(list.RootElement.GetProperty("items").EnumerateArray(), a => a.GetProperty("name").GetString() == "rita");
        Assert.Equal("viewer", rita.GetProperty("role").GetString());
        Assert.True(rita.TryGetProperty("revokedAt", out _));
        // The config init wrote is an admin, recorded like the others.
        Assert.Contains(list.RootElement.GetProperty("items").EnumerateArray(),
            a => a.GetProperty("name").GetString() == "admin" && a.GetProperty("role").GetString() == "admin");
        var table = await Cluster.CliOkAsync("admin", "list");
        Assert.Contains("NAME", table);
        Assert.Contains("rita", table);
    }
}
