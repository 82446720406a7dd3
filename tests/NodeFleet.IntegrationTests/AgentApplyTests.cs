using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// `nodefleet-agent apply` as a real process on a scratch root: idempotence, dry run, undo, reset, and a kill -9
/// at every step boundary followed by a resume that ends byte-identical to an uninterrupted run.
/// </summary>
public sealed class AgentApplyTests
{
    // Prepull and verify need a runtime and a registry; their tests start real ones (see the image tests).
    public const string Plan = """
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: node-config
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: containerd
            cgroupDriver: systemd
          registry:
            mirrors:
              registry.k8s.io: ["http://127.0.0.1:5000"]
          kubelet:
            extraArgs: {node-labels: "tier=web", max-pods: "50"}
          skipPhases: [prepull-images, verify]
        """;

    /// <summary>
    /// <see cref="Plan"/> with one artifact to stage and install at DIRECTORY/NAME: /opt/cni/bin takes any name (a
    /// CNI plugin); /usr/bin and /usr/local/bin only the binaries a node upgrade installs (kubelet, crictl, ...).
    /// </summary>
    public static string PlanWithArtifact(string name, string url, string sha256, string directory = "/opt/cni/bin") => Plan.Replace("  kubelet:", $"""
          artifacts:
            - name: {name}
              url: {url}
              sha256: "{sha256}"
              installPath: {directory}/{name}
          kubelet:
        """);

    private const string ExistingContainerdConfig = """
        # Site config kept by the operator
        version = 2
        root = "/var/lib/containerd"

        [plugins."io.containerd.grpc.v1.cri"]
          sandbox_image = "registry.k8s.io/pause:3.6"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false

        """;

    // No runtime and no mirror run in these tests: their preflight errors are ignored by id.
    public const string IgnoreAbsentRuntime = "--ignore-preflight-errors=CRI,Mirror-127.0.0.1:5000";

    private static readonly string[] IgnoreCri = [IgnoreAbsentRuntime];

    private static NodeRoot NewNode()
    {
        var node = new NodeRoot();
        node.Write("/etc/containerd/config.toml", ExistingContainerdConfig);
        return node;
    }

    private static async Task<ProcResult> ApplyAsync(NodeRoot node, string plan, IDictionary<string, string>? env = null, params string[] extra)
    {
        var file = node.WritePlan(plan);
        return await node.AgentAsync(["apply", file, .. IgnoreCri, .. extra], env);
    }

    [Fact]
    public async Task Apply_writes_the_configuration_restarts_what_changed_and_a_second_apply_does_nothing()
    {
        using var node = NewNode();
        var r = await ApplyAsync(node, Plan);
        Assert.True(r.ExitCode == 0, r.ToString());

        var config = node.Read("/etc/containerd/config.toml")!;
        Assert.Contains("root = \"/var/lib/containerd\"", config);
        Assert.Contains("# Site config kept by the operator", config);
        Assert.Contains("SystemdCgroup = true", config);
        Assert.Contains("sandbox_image = \"registry.k8s.io/pause:3.10\"", config);
        Assert.Contains("server = \"http://127.0.0.1:5000\"", node.Read("/etc/containerd/certs.d/registry.k8s.io/hosts.toml"));
        var dropIn = node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf")!;
        Assert.Contains("--container-runtime-endpoint=unix:///run/containerd/containerd.sock --cgroup-driver=systemd --max-pods=50 --node-labels=tier=web", dropIn);
        Assert.Equal(["daemon-reload", "restart containerd", "is-active containerd", "restart kubelet", "is-active kubelet"], node.SystemctlCalls());

        var before = node.Snapshot();
        var again = await ApplyAsync(node, Plan);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(before, node.Snapshot());
        Assert.Equal(5, node.SystemctlCalls().Count);

        // A changed plan is a new run, which only rewrites and restarts what differs.
        var changed = await ApplyAsync(node, Plan.Replace("max-pods: \"50\"", "max-pods: \"60\""));
        Assert.True(changed.ExitCode == 0, changed.ToString());
        Assert.Contains("--max-pods=60", node.Read("/etc/systemd/system/kubelet.service.d/20-nodefleet.conf"));
        Assert.Equal(["daemon-reload", "restart kubelet", "is-active kubelet"], node.SystemctlCalls().Skip(5));
    }

    [Fact]
    public async Task Dry_run_shows_diffs_and_restarts_and_changes_nothing()
    {
        using var node = NewNode();
        var before = node.Snapshot(includeAgentState: true);
        var r = await ApplyAsync(node, Plan, null, "--dry-run");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("[containerd-config/config-toml] would write /etc/containerd/config.toml", r.StdOut);
        Assert.Contains("-  SystemdCgroup = false", r.StdOut);
        Assert.Contains("+  SystemdCgroup = true", r.StdOut);
        Assert.Contains("[kubelet-config/drop-in] would write /etc/systemd/system/kubelet.service.d/20-nodefleet.conf", r.StdOut);
        Assert.Contains("[restart-services/restart-containerd] would restart containerd", r.StdOut);
        Assert.Contains("[kubelet-config/daemon-reload] would run systemctl daemon-reload", r.StdOut);
        Assert.Equal(before, node.Snapshot(includeAgentState: true));
        Assert.Empty(node.SystemctlCalls());

        // After an apply, the dry run finds everything satisfied.
        Assert.Equal(0, (await ApplyAsync(node, Plan)).ExitCode);
        var after = await ApplyAsync(node, Plan, null, "--dry-run");
        Assert.Contains("[containerd-config/config-toml] satisfied", after.StdOut);
        Assert.DoesNotContain("would write", after.StdOut);
    }

    [Fact]
    public async Task A_failed_step_stops_the_plan_and_undo_restores_files_byte_for_byte()
    {
        using var node = NewNode();
        var before = node.Snapshot();
        node.FailRestartOf("kubelet");
        var r = await ApplyAsync(node, Plan);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error execution phase restart-services/restart-kubelet", r.All);
        Assert.Contains("Job for kubelet.service failed", r.All);
        Assert.Equal(before, node.Snapshot());
        // Undo reloads systemd for the removed drop-in and restarts what the run had restarted.
        var calls = node.SystemctlCalls();
        Assert.Equal(["daemon-reload", "restart containerd", "is-active containerd", "restart kubelet", "daemon-reload", "restart containerd"], calls);
    }

    [Fact]
    public async Task Reset_removes_or_restores_everything_nodefleet_wrote()
    {
        using var node = NewNode();
        var before = node.Snapshot();
        Assert.Equal(0, (await ApplyAsync(node, Plan)).ExitCode);
        Assert.Equal(0, (await ApplyAsync(node, Plan.Replace("max-pods: \"50\"", "max-pods: \"70\""))).ExitCode);
        Assert.NotEqual(before, node.Snapshot());

        var dry = await node.AgentAsync(["reset", "--dry-run"]);
        Assert.Contains("would restore /etc/containerd/config.toml", dry.StdOut);
        Assert.Contains("would remove /etc/systemd/system/kubelet.service.d/20-nodefleet.conf", dry.StdOut);
        Assert.NotEqual(before, node.Snapshot());

        var reset = await node.AgentAsync(["reset"]);
        Assert.True(reset.ExitCode == 0, reset.ToString());
        Assert.Equal(before, node.Snapshot());
        Assert.Contains("nothing to reset", (await node.AgentAsync(["reset"])).StdOut);
    }

    [Fact]
    public async Task An_undo_whose_systemctl_fails_still_ends_the_run_and_says_what_was_left_undone()
    {
        using var node = NewNode();
        var before = node.Snapshot();
        node.FailDaemonReload(true);
        var failed = await ApplyAsync(node, Plan);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("error execution phase kubelet-config/daemon-reload", failed.All);
        Assert.Contains("undo incomplete: systemctl daemon-reload exited 1: Failed to connect to bus", failed.All);
        Assert.DoesNotContain("Unhandled exception", failed.All);
        Assert.Equal(before, node.Snapshot());

        // The run is over (failed), not left undoing: the next apply runs.
        node.FailDaemonReload(false);
        var again = await ApplyAsync(node, Plan);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("Resuming run", again.All);
    }

    [Fact]
    public async Task The_agent_does_not_start_on_a_journal_that_is_not_a_database_and_leaves_it_as_it_was()
    {
        using var node = NewNode();
        var journal = Path.Combine(node.Root, "var/lib/nodefleet-agent/journal.db");
        Directory.CreateDirectory(Path.GetDirectoryName(journal)!);
        File.WriteAllText(journal, "not a db");
        var run = await Proc.RunAsync(Binaries.Agent, ["--root", node.Root, "--systemctl", node.Systemctl, "run"], null,
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: {journal} (the agent's journal) is not a LiteDB database", run.StdErr);
        Assert.DoesNotContain("   at ", run.All);
        Assert.Equal("not a db", File.ReadAllText(journal));
    }

    [Fact]
    public async Task A_reset_whose_daemon_reload_fails_says_so_in_one_line_and_completes_when_run_again()
    {
        using var node = NewNode();
        var before = node.Snapshot();
        Assert.Equal(0, (await ApplyAsync(node, Plan)).ExitCode);

        node.FailDaemonReload(true);
        var failed = await node.AgentAsync(["reset"]);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("error: systemctl daemon-reload exited 1: Failed to connect to bus", failed.StdErr);
        Assert.DoesNotContain("Unhandled exception", failed.StdErr);
        Assert.DoesNotContain("   at ", failed.StdErr);

        node.FailDaemonReload(false);
        var reloads = node.SystemctlCalls().Count(c => c == "daemon-reload");
        var again = await node.AgentAsync(["reset"]);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("absent /etc/systemd/system/kubelet.service.d/20-nodefleet.conf", again.StdOut);
        Assert.Equal(reloads + 1, node.SystemctlCalls().Count(c => c == "daemon-reload"));
        Assert.Equal(before, node.Snapshot());
        Assert.Contains("nothing to reset", (await node.AgentAsync(["reset"])).StdOut);
    }

    [Fact]
    public async Task A_symlinked_directory_below_an_allowed_root_fails_the_plan_and_nothing_is_written_through_it()
    {
        using var node = NewNode();
        var outside = Path.Combine(node.Scratch, "outside");
        Directory.CreateDirectory(outside);
        Directory.CreateDirectory(node.HostPath("/etc/containerd/certs.d"));
        Directory.CreateSymbolicLink(node.HostPath("/etc/containerd/certs.d/registry.k8s.io"), outside);
        var before = node.Snapshot();

        var dry = await ApplyAsync(node, Plan, null, "--dry-run");
        Assert.Contains("[containerd-config/hosts-toml-registry-k8s-io] blocked: /etc/containerd/certs.d/registry.k8s.io is a symbolic link", dry.StdOut);

        var r = await ApplyAsync(node, Plan);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error execution phase containerd-config/hosts-toml-registry-k8s-io: /etc/containerd/certs.d/registry.k8s.io is a symbolic link", r.All);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.Equal(before, node.Snapshot());
    }

    [Fact]
    public async Task A_symlinked_binary_is_replaced_not_written_through_and_reset_links_it_again_without_copying_its_target()
    {
        await using var http = await HttpFiles.StartAsync();
        using var node = NewNode();
        var secret = Path.Combine(node.Scratch, "secret");
        File.WriteAllText(secret, "the secret\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Directory.CreateDirectory(node.HostPath("/usr/local/bin"));
        File.CreateSymbolicLink(node.HostPath("/usr/local/bin/crictl"), secret);
        var body = "#!/bin/sh\necho crictl\n"u8.ToArray();
        var (url, sha) = http.Add("crictl", body);

        var r = await ApplyAsync(node, PlanWithArtifact("crictl", url, sha, "/usr/local/bin"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Null(new FileInfo(node.HostPath("/usr/local/bin/crictl")).LinkTarget);
        Assert.Equal(body, File.ReadAllBytes(node.HostPath("/usr/local/bin/crictl")));
        Assert.Equal("the secret\n", File.ReadAllText(secret));
        var backups = node.HostPath("/var/lib/nodefleet-agent/backups");
        Assert.DoesNotContain("the secret\n", Directory.Exists(backups) ? Directory.GetFiles(backups).Select(File.ReadAllText) : []);

        var reset = await node.AgentAsync(["reset"]);
        Assert.True(reset.ExitCode == 0, reset.ToString());
        Assert.Contains("restore /usr/local/bin/crictl", reset.StdOut);
        Assert.Equal(secret, new FileInfo(node.HostPath("/usr/local/bin/crictl")).LinkTarget);
        Assert.Equal("the secret\n", File.ReadAllText(secret));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
    }

    [Theory]
    [InlineData("unknown-runtime.yaml", "kind: containerd", "kind: rkt", 8)]
    [InlineData("shell.yaml", "node-labels: \"tier=web\"", "node-labels: \"tier=web;reboot\"", 14)]
    [InlineData("unknown-field.yaml", "  kubelet:", "  kubelt:", 13)]
    public async Task Bad_plans_are_refused_with_file_and_line_and_nothing_runs(string name, string from, string to, int line)
    {
        using var node = NewNode();
        var before = node.Snapshot(includeAgentState: true);
        var file = node.WritePlan(Plan.Replace(from, to), name);
        var r = await node.AgentAsync(["apply", file]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{file}:{line}:", r.StdErr);
        Assert.Equal(before, node.Snapshot(includeAgentState: true));
        Assert.Empty(node.SystemctlCalls());
    }

    /// <summary>The steps of the plan in order, as the dry run lists them.</summary>
    private static async Task<List<string>> StepsOfAsync(NodeRoot node)
    {
        var dry = await ApplyAsync(node, Plan, null, "--dry-run");
        return dry.StdOut.Split('\n').Where(l => l.StartsWith('['))
            .Select(l => l[1..l.IndexOf(']')]).Distinct().ToList();
    }

    [Fact]
    public async Task Killed_at_any_step_boundary_the_agent_resumes_and_ends_byte_identical()
    {
        using var reference = NewNode();
        var steps = await StepsOfAsync(reference);
        Assert.Contains("containerd-config/config-toml", steps);
        Assert.Contains("restart-services/restart-kubelet", steps);
        Assert.Equal(0, (await ApplyAsync(reference, Plan)).ExitCode);
        var expected = reference.Snapshot();

        var boundaries = steps.SelectMany(s => new[] { "before-apply", "after-apply", "after-step" }.Select(w => $"{s}:{w}")).ToList();
        var killed = 0;
        foreach (var failpoint in boundaries)
        {
            using var node = NewNode();
            var crashed = await ApplyAsync(node, Plan, new Dictionary<string, string> { ["NODEFLEET_FAILPOINT"] = failpoint });
            if (crashed.ExitCode == 137)
            {
                killed++;
                Assert.Contains($"failpoint {failpoint}", crashed.StdErr);
            }
            else Assert.True(crashed.ExitCode == 0, $"{failpoint}: {crashed}");

            var resumed = await ApplyAsync(node, Plan);
            Assert.True(resumed.ExitCode == 0, $"{failpoint}: {resumed}");
            Assert.Equal(expected, node.Snapshot());
            // Whatever the crash, both restarts have happened by the end.
            var calls = node.SystemctlCalls();
            Assert.Contains("restart containerd", calls);
            Assert.Contains("restart kubelet", calls);
        }
        // Preflight applies nothing, so its before/after-apply points never fire; every other boundary does.
        Assert.True(killed >= boundaries.Count - 2, $"only {killed} of {boundaries.Count} failpoints fired");
    }
}
