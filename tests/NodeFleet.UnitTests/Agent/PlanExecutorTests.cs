using System.Text;
using Google.Protobuf;
using LiteDB;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Commands;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Agent.Phases;
using NodeFleet.Plans;
using NodeFleet.Tests.TestSupport;
using NodePlan = NodeFleet.Protocol.V1.NodePlan;
using RunState = NodeFleet.Agent.Execution.RunState;
using StepState = NodeFleet.Agent.Execution.StepState;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The executor on a scratch root with real files and symbolic links: links are refused below the writable roots,
/// recorded (never read through) at the target and put back by undo and reset; journal records and stored plans
/// are checked before they are acted on.
/// </summary>
public sealed class PlanExecutorTests : IDisposable
{
    private const string MirrorPlan = """
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: node-config
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: containerd
          registry:
            mirrors:
              registry.k8s.io: ["http://127.0.0.1:5000"]
          skipPhases: [preflight, prepull-images, kubelet-config, verify]
        """;

    private static readonly byte[] Crictl = Encoding.UTF8.GetBytes("#!/bin/sh\necho crictl\n");
    private static readonly string CrictlSha = HostFiles.Sha256(Crictl);

    /// <summary>Installs crictl from the agent's cache (put there by the test: nothing is downloaded).</summary>
    private static readonly string ArtifactPlan = MirrorPlan.Replace("  skipPhases:", $"""
          artifacts:
            - name: crictl
              url: http://127.0.0.1:9/crictl
              sha256: "{CrictlSha}"
              installPath: /usr/local/bin/crictl
          skipPhases:
        """);

    private const string HostsToml = "/etc/containerd/certs.d/registry.k8s.io/hosts.toml";

    private readonly TempDir _dir = new();
    private readonly HostRoot _root;
    private readonly string _outside;
    private readonly Services _services = new();
    private List<string> _pins = [];
    private bool _pinsUnreadable;
    private readonly HttpClient _http = new();
    private Journal _journal;
    private PlanExecutor _executor;

    public PlanExecutorTests()
    {
        _root = new HostRoot(_dir.File("root"));
        _outside = _dir.File("outside");
        Directory.CreateDirectory(_outside);
        (_journal, _executor) = Open();
    }

    public void Dispose()
    {
        _journal.Dispose();
        _http.Dispose();
        _dir.Dispose();
    }

    private (Journal, PlanExecutor) Open()
    {
        var journal = new Journal(_root);
        var files = new HostFiles(_root);
        var executor = new PlanExecutor(journal, files, new BackupStore(_root), _services, new ImageServiceFactory(_root, files),
            new CommandRunner(_root), new PhaseCatalog(_http, new AgentSettings()), new RunObservers([]), new Failpoints(null),
            TimeProvider.System, NullLogger<PlanExecutor>.Instance,
            () => _pinsUnreadable ? throw new AgentException("/etc/nodefleet/agent.yaml:3: planSigners: bad") : _pins);
        return (journal, executor);
    }

    /// <summary>Closes the journal, lets <paramref name="edit"/> change its database as another program could, and opens it again.</summary>
    private void EditJournal(Action<LiteDatabase> edit)
    {
        _journal.Dispose();
        using (var db = new LiteDatabase(new ConnectionString { Filename = Full($"{AgentPaths.StateDir}/{Journal.FileName}"), Connection = ConnectionType.Direct }))
            edit(db);
        (_journal, _executor) = Open();
    }

    /// <summary>Records service manager calls; `restart UNIT` fails for the units in <see cref="FailRestart"/>.</summary>
    private sealed class Services : IServiceManager
    {
        public List<string> Calls { get; } = [];
        public HashSet<string> FailRestart { get; } = [];

        public Task DaemonReloadAsync(CancellationToken ct)
        {
            Calls.Add("daemon-reload");
            return Task.CompletedTask;
        }

        public Task RestartAsync(string unit, CancellationToken ct)
        {
            Calls.Add($"restart {unit}");
            return FailRestart.Contains(unit) ? Task.FromException(new ServiceManagerException($"Job for {unit}.service failed.")) : Task.CompletedTask;
        }

        public Task<bool> IsActiveAsync(string unit, CancellationToken ct) => Task.FromResult(true);
    }

    [Fact]
    public async Task A_pinning_agent_runs_only_signed_plans_and_refuses_all_when_its_pins_cannot_be_read()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        _pins = [NodeFleet.Security.KeyHash.Of(key.ExportSubjectPublicKeyInfo())];

        var unsigned = await ApplyAsync(MirrorPlan);
        Assert.Equal(RunState.Failed, unsigned.State);
        Assert.StartsWith($"refused by this agent, nothing done: the plan is not signed; this node runs only plans signed by {_pins[0]}", unsigned.Error);
        Assert.Null(Text(HostsToml));

        var signed = Plan(MirrorPlan);
        signed.Signature = PlanSignatures.Sign(signed, key);
        _pinsUnreadable = true;
        var unreadable = await _executor.ApplyAsync(signed, new PlanExecutor.Options([]), CancellationToken.None);
        Assert.Equal(RunState.Failed, unreadable.State);
        Assert.Contains("this node's plan signer pins cannot be read, so no plan runs: /etc/nodefleet/agent.yaml:3", unreadable.Error);
        Assert.Null(Text(HostsToml));

        _pinsUnreadable = false;
        var run = await _executor.ApplyAsync(signed, new PlanExecutor.Options([]), CancellationToken.None);
        Assert.True(run.State == RunState.Succeeded, run.Error);
        Assert.NotNull(Text(HostsToml));
    }

    private static NodePlan Plan(string yaml)
    {
        var loaded = PlanLoader.Load(yaml);
        Assert.True(loaded.Plan is not null && loaded.Errors.Count == 0, string.Join('\n', loaded.Errors));
        return PlanDefaults.Apply(loaded.Plan);
    }

    private Task<RunRecord> ApplyAsync(string yaml) =>
        _executor.ApplyAsync(Plan(yaml), new PlanExecutor.Options([]), CancellationToken.None);

    private string Full(string hostPath) => _root.Path(hostPath);

    private string? Text(string hostPath) => File.Exists(Full(hostPath)) ? File.ReadAllText(Full(hostPath)) : null;

    private void WriteHostFile(string hostPath, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Full(hostPath))!);
        File.WriteAllText(Full(hostPath), content);
        File.SetUnixFileMode(Full(hostPath), NodeFleet.IO.AtomicFile.Public);
    }

    private string? LinkTarget(string hostPath) => new FileInfo(Full(hostPath)).LinkTarget;

    /// <summary>A 0600 file outside the root and a link to it at <paramref name="hostPath"/>.</summary>
    private string LinkToSecret(string hostPath)
    {
        var secret = Path.Combine(_outside, "secret");
        File.WriteAllText(secret, "the secret");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Directory.CreateDirectory(Path.GetDirectoryName(Full(hostPath))!);
        File.CreateSymbolicLink(Full(hostPath), secret);
        return secret;
    }

    private void CacheCrictl()
    {
        Directory.CreateDirectory(Full(ArtifactCache.Dir));
        File.WriteAllBytes(Full(ArtifactCache.HostPath(CrictlSha)), Crictl);
    }

    /// <summary>Every backup the agent keeps, as text.</summary>
    private List<string> Backups() => Directory.Exists(Full(BackupStore.Dir))
        ? Directory.GetFiles(Full(BackupStore.Dir)).Select(File.ReadAllText).ToList()
        : [];

    [Fact]
    public async Task A_mirror_plan_through_a_symlinked_registry_directory_fails_and_writes_nothing_outside()
    {
        Directory.CreateDirectory(Full("/etc/containerd/certs.d"));
        Directory.CreateSymbolicLink(Full("/etc/containerd/certs.d/registry.k8s.io"), _outside);

        var run = await ApplyAsync(MirrorPlan);

        Assert.Equal(RunState.Failed, run.State);
        Assert.Contains("error execution phase containerd-config/hosts-toml-registry-k8s-io", run.Error);
        Assert.Contains("/etc/containerd/certs.d/registry.k8s.io is a symbolic link", run.Error);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outside));
        // The config written before the failing step is undone: the node is as it was.
        Assert.Null(Text("/etc/containerd/config.toml"));
    }

    [Fact]
    public async Task The_dry_run_shows_the_symlinked_directory_as_blocked()
    {
        Directory.CreateDirectory(Full("/etc/containerd/certs.d"));
        Directory.CreateSymbolicLink(Full("/etc/containerd/certs.d/registry.k8s.io"), _outside);
        File.WriteAllText(Path.Combine(_outside, "hosts.toml"), "server = 'https://elsewhere'");

        var entries = await _executor.DryRunAsync(Plan(MirrorPlan), new PlanExecutor.Options([]), CancellationToken.None);

        var hosts = Assert.Single(entries, e => e.Step == "hosts-toml-registry-k8s-io");
        Assert.Equal("blocked", hosts.Outcome);
        Assert.Contains("/etc/containerd/certs.d/registry.k8s.io is a symbolic link", Assert.Single(hosts.Actions));
        Assert.DoesNotContain(entries.SelectMany(e => e.Actions), a => a.Contains("elsewhere"));
    }

    [Fact]
    public async Task A_symlinked_binary_is_replaced_its_target_is_never_copied_and_reset_links_it_again()
    {
        CacheCrictl();
        var secret = LinkToSecret("/usr/local/bin/crictl");

        var run = await ApplyAsync(ArtifactPlan);

        Assert.True(run.State == RunState.Succeeded, run.Error);
        Assert.Null(LinkTarget("/usr/local/bin/crictl"));
        Assert.Equal(Crictl, File.ReadAllBytes(Full("/usr/local/bin/crictl")));
        Assert.Equal("the secret", File.ReadAllText(secret));
        Assert.DoesNotContain("the secret", Backups());
        var inventory = _journal.Inventory.FindById("/usr/local/bin/crictl");
        Assert.Equal((true, secret, ""), (inventory.OriginalExisted, inventory.OriginalLinkTarget, inventory.OriginalSha256));

        var dry = await _executor.ResetAsync(dryRun: true, CancellationToken.None);
        Assert.Contains("restore /usr/local/bin/crictl", dry);
        var reset = await _executor.ResetAsync(dryRun: false, CancellationToken.None);
        Assert.Contains("restore /usr/local/bin/crictl", reset);

        Assert.Equal(secret, LinkTarget("/usr/local/bin/crictl"));
        Assert.Equal("the secret", File.ReadAllText(secret));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secret));
        Assert.Empty(_journal.Inventory.FindAll());
    }

    [Fact]
    public async Task Undo_of_a_failed_run_links_a_replaced_link_again_and_a_dry_run_says_it_would_replace_it()
    {
        WriteHostFile("/etc/containerd/site.toml", "version = 2\n# site\n");
        Directory.CreateDirectory(Full("/etc/containerd"));
        File.CreateSymbolicLink(Full("/etc/containerd/config.toml"), "site.toml");

        var dry = await _executor.DryRunAsync(Plan(MirrorPlan), new PlanExecutor.Options([]), CancellationToken.None);
        var config = Assert.Single(dry, e => e.Step == "config-toml");
        Assert.Contains("would replace the symbolic link /etc/containerd/config.toml (to site.toml) with a regular file", config.Actions);
        // Rendered as if nothing were there: the linked file's content is not read (and shows in no diff).
        Assert.DoesNotContain(config.Actions, a => a.Contains("# site"));

        _services.FailRestart.Add("containerd");
        var run = await ApplyAsync(MirrorPlan);

        Assert.Equal(RunState.Failed, run.State);
        Assert.Contains("Job for containerd.service failed", run.Error);
        Assert.DoesNotContain("undo incomplete", run.Error);
        Assert.Equal("site.toml", LinkTarget("/etc/containerd/config.toml"));
        Assert.Equal("version = 2\n# site\n", Text("/etc/containerd/site.toml"));
        Assert.Null(Text(HostsToml));
        Assert.True(_journal.Backups.Find(b => b.RunId == run.Id).All(b => b.Restored));
    }

    [Fact]
    public async Task A_link_already_back_in_place_is_unchanged_for_reset()
    {
        WriteHostFile("/etc/containerd/site.toml", "version = 2\n");
        File.CreateSymbolicLink(Full("/etc/containerd/config.toml"), "site.toml");
        Assert.Equal(RunState.Succeeded, (await ApplyAsync(MirrorPlan)).State);
        File.Delete(Full("/etc/containerd/config.toml"));
        File.CreateSymbolicLink(Full("/etc/containerd/config.toml"), "site.toml");

        var actions = await _executor.ResetAsync(dryRun: false, CancellationToken.None);

        Assert.Contains("unchanged /etc/containerd/config.toml", actions);
        Assert.Contains($"remove {HostsToml}", actions);
        Assert.Equal("site.toml", LinkTarget("/etc/containerd/config.toml"));
    }

    [Fact]
    public async Task Undo_refuses_journal_records_outside_the_writable_roots_or_with_a_malformed_hash_and_undoes_the_rest()
    {
        WriteHostFile("/etc/containerd/config.toml", "version = 2\n");
        WriteHostFile("/etc/shadow", "root:*:");
        var run = await ApplyAsync(MirrorPlan);
        Assert.Equal(RunState.Succeeded, run.State);

        // A journal edited behind the agent's back: a path outside the roots, and a hash that climbs out of the backups.
        _journal.Write(j =>
        {
            j.Backups.Insert(new BackupRecord { Id = "x|/etc/shadow", RunId = run.Id, StepId = "x", Order = 100, Path = "/etc/shadow", Existed = false });
            j.Backups.Insert(new BackupRecord
            {
                Id = "y|/etc/containerd/other.toml", RunId = run.Id, StepId = "y", Order = 101, Path = "/etc/containerd/other.toml",
                Existed = true, ContentSha256 = "../../../../etc/shadow", Mode = 420,
            });
        });

        var undone = await _executor.UndoRunAsync(run.Id, CancellationToken.None);

        Assert.Equal(RunState.Failed, undone.State);
        Assert.Contains("undo incomplete:", undone.Error);
        Assert.Contains("/etc/shadow not undone: /etc/shadow is outside the directories the agent changes", undone.Error);
        Assert.Contains("/etc/containerd/other.toml not undone: backup hash '../../../../etc/shadow' is not 64 lowercase hex digits; refused", undone.Error);
        Assert.Equal("root:*:", Text("/etc/shadow"));
        Assert.Null(Text("/etc/containerd/other.toml"));
        // The records that hold up are undone all the same.
        Assert.Equal("version = 2\n", Text("/etc/containerd/config.toml"));
        Assert.Null(Text(HostsToml));
        Assert.Contains("restart containerd", _services.Calls.Skip(1));
    }

    [Fact]
    public async Task Reset_refuses_an_inventory_path_outside_the_writable_roots_resets_the_rest_and_keeps_the_inventory()
    {
        WriteHostFile("/etc/shadow", "root:*:");
        Assert.Equal(RunState.Succeeded, (await ApplyAsync(MirrorPlan)).State);
        _journal.Write(j =>
        {
            j.Inventory.Insert(new InventoryRecord { Path = "/etc/shadow", OriginalExisted = false, FirstWrittenAt = DateTime.UtcNow });
            j.Inventory.Insert(new InventoryRecord { Path = "/../../etc/passwd", OriginalExisted = false, FirstWrittenAt = DateTime.UtcNow });
        });

        var output = new StringWriter();
        var e = await Assert.ThrowsAsync<AgentException>(() => ApplyCommand.ResetAsync(_executor, dryRun: false, output, CancellationToken.None));

        Assert.Contains("reset incomplete: 2 path(s) refused", e.Message);
        Assert.Contains("refused /etc/shadow: /etc/shadow is outside the directories the agent changes", output.ToString());
        Assert.Contains("refused /../../etc/passwd: host path '/../../etc/passwd': must not contain '..' segments", output.ToString());
        Assert.Contains($"remove {HostsToml}", output.ToString());
        Assert.Equal("root:*:", Text("/etc/shadow"));
        Assert.Null(Text(HostsToml));
        Assert.Null(Text("/etc/containerd/config.toml"));
        Assert.Equal(4, _journal.Inventory.Count());
    }

    [Fact]
    public async Task A_journal_written_before_links_were_recorded_still_undoes_and_resets_regular_files()
    {
        WriteHostFile("/etc/containerd/config.toml", "version = 2\n");
        var first = await ApplyAsync(MirrorPlan);
        Assert.Equal(RunState.Succeeded, first.State);
        var second = await ApplyAsync(MirrorPlan.Replace("127.0.0.1:5000", "127.0.0.1:5001"));
        Assert.Equal(RunState.Succeeded, second.State);

        // The records as an older agent wrote them: without the link fields.
        EditJournal(db =>
        {
            foreach (var (name, field) in new[] { ("backups", "LinkTarget"), ("inventory", "OriginalLinkTarget") })
            {
                var collection = db.GetCollection(name);
                foreach (var doc in collection.FindAll().ToList())
                {
                    Assert.True(doc.Remove(field), $"{name} has no {field}");
                    collection.Update(doc);
                }
            }
        });

        var undone = await _executor.UndoRunAsync(second.Id, CancellationToken.None);
        Assert.True(undone.State == RunState.Undone, undone.Error);
        Assert.Contains("http://127.0.0.1:5000", Text(HostsToml));

        await _executor.ResetAsync(dryRun: false, CancellationToken.None);
        Assert.Equal("version = 2\n", Text("/etc/containerd/config.toml"));
        Assert.Null(Text(HostsToml));
        Assert.Null(LinkTarget("/etc/containerd/config.toml"));
    }

    /// <summary>A run of <paramref name="plan"/> as the journal holds it when the agent stopped before its first step.</summary>
    private RunRecord StoreUnfinishedRun(NodePlan plan)
    {
        var run = new RunRecord
        {
            Id = "node-config-stored", PlanName = plan.Metadata.Name, Digest = PlanIdentity.Digest(plan), Plan = plan.ToByteArray(),
            State = RunState.Running, StartedAt = DateTime.UtcNow,
        };
        _journal.Write(j =>
        {
            j.Runs.Insert(run);
            var index = 0;
            foreach (var phase in new PhaseCatalog(_http, new AgentSettings()).Build(plan))
            {
                foreach (var step in phase.Steps)
                {
                    j.Steps.Insert(new StepRecord
                    {
                        Id = $"{run.Id}/{phase.Id}/{step.Id}", RunId = run.Id, Index = index++, Phase = phase.Id, Step = step.Id,
                    });
                }
            }
        });
        return run;
    }

    // A plan the agent refused used to be only a log line: a rollout waiting on the node never learned of it.
    [Fact]
    public async Task A_plan_this_agent_refuses_ends_as_a_failed_run_and_nothing_is_done()
    {
        var plan = Plan(ArtifactPlan);
        plan.Spec.Artifacts[0].Mode = "0777";

        var run = await _executor.ApplyAsync(plan, new PlanExecutor.Options([], "r1", "apply"), CancellationToken.None);

        Assert.Equal(RunState.Failed, run.State);
        Assert.StartsWith("refused by this agent, nothing done: invalid plan: spec.artifacts[0].mode", run.Error);
        Assert.DoesNotContain("\n", run.Error);
        Assert.Equal(("r1", "apply"), (run.RolloutId, run.Stage));
        Assert.Equal(RunState.Failed, _journal.Runs.FindById(run.Id).State);
        Assert.Null(Text("/usr/local/bin/crictl"));
        Assert.Null(Text("/etc/containerd/config.toml"));
        Assert.Empty(_services.Calls);
        Assert.Null(await _executor.ResumeAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_resumed_run_whose_stored_plan_is_invalid_fails_without_executing()
    {
        CacheCrictl();
        var plan = Plan(ArtifactPlan);
        // Allowed to the agent's file writer (under /etc/containerd), refused by the plan validator (not an install root).
        plan.Spec.Artifacts[0].InstallPath = "/etc/containerd/crictl";
        StoreUnfinishedRun(plan);

        var run = await _executor.ResumeAsync(CancellationToken.None);

        Assert.NotNull(run);
        Assert.Equal(RunState.Failed, run.State);
        Assert.Contains("the stored plan of run node-config-stored is not executed: invalid plan:", run.Error);
        Assert.Contains("spec.artifacts[0].installPath", run.Error);
        Assert.Null(Text("/etc/containerd/crictl"));
        Assert.Null(Text("/etc/containerd/config.toml"));
        Assert.Empty(_services.Calls);
        Assert.All(_journal.StepsOf(run.Id), s => Assert.Equal(StepState.Pending, s.State));
        Assert.Null(_journal.Unfinished());
    }

    [Fact]
    public async Task A_resumed_run_whose_stored_plan_cannot_be_read_fails_without_executing()
    {
        var run = StoreUnfinishedRun(Plan(MirrorPlan));
        _journal.Write(j =>
        {
            run.Plan = [0xff, 0xff, 0xff];
            j.Runs.Update(run);
        });

        var resumed = await _executor.ResumeAsync(CancellationToken.None);

        Assert.Equal(RunState.Failed, resumed!.State);
        Assert.Contains("the stored plan of run node-config-stored cannot be read", resumed.Error);
        Assert.Null(Text("/etc/containerd/config.toml"));
    }

    [Fact]
    public async Task A_resumed_run_whose_stored_plan_is_valid_runs_to_the_end()
    {
        StoreUnfinishedRun(Plan(MirrorPlan));

        var run = await _executor.ResumeAsync(CancellationToken.None);

        Assert.True(run!.State == RunState.Succeeded, run.Error);
        Assert.Contains("http://127.0.0.1:5000", Text(HostsToml));
    }

    [Fact]
    public void Every_file_a_plan_writes_is_under_a_writable_root()
    {
        foreach (var runtime in new[] { PlanRuntimes.Containerd, PlanRuntimes.CriO, PlanRuntimes.Docker })
        {
            var plan = Plan(ArtifactPlan.Replace("kind: containerd", $"kind: {runtime}")
                .Replace("  skipPhases: [preflight, prepull-images, kubelet-config, verify]", "  kubelet:\n    extraArgs: {max-pods: \"50\"}"));
            var steps = new PhaseCatalog(_http, new AgentSettings()).Build(plan).SelectMany(p => p.Steps).ToList();
            var written = steps.OfType<WriteFileStep>().Select(s => s.HostPath).Concat(plan.Spec.Artifacts.Select(a => a.InstallPath)).ToList();
            Assert.True(written.Count >= 3, runtime);
            Assert.All(written, p => Assert.Null(HostRoot.WritableError(p)));
        }
        Assert.Null(HostRoot.WritableError(ArtifactCache.HostPath(CrictlSha)));
        Assert.Null(HostRoot.WritableError($"{BackupStore.Dir}/{CrictlSha}"));
    }
}
