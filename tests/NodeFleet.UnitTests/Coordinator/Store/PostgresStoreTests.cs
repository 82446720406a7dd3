using NodeFleet.Coordinator.Errors;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.Postgres;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>
/// What only a shared PostgreSQL store must do: migrate once however many coordinators start together, refuse a newer
/// schema, and keep several coordinators (here, several store instances on one database) from overwriting each other.
/// </summary>
[Collection(PostgresServer.Collection)]
public sealed class PostgresStoreTests(PostgresServer server)
{
    [Fact]
    public async Task Coordinators_starting_together_migrate_once_and_a_restart_changes_nothing()
    {
        var (db, setting) = await server.CreateDatabaseAsync();
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => PostgresStore.OpenAsync(setting))));
        await stores[0].WriteAsync(s => s.Plans.Insert(new PlanRecord { Name = "p", Generation = 1 }));
        foreach (var s in stores) await s.DisposeAsync();
        var migratedAt = await server.ScalarAsync<DateTime>(db, "SELECT migrated_at FROM nodefleet_schema");

        await using (var again = await PostgresStore.OpenAsync(setting))
            Assert.Equal(1, again.Plans.Get("p")!.Generation);
        Assert.Equal(PostgresSchema.Version, await server.ScalarAsync<int>(db, "SELECT version FROM nodefleet_schema"));
        Assert.Equal(migratedAt, await server.ScalarAsync<DateTime>(db, "SELECT migrated_at FROM nodefleet_schema"));
    }

    [Fact]
    public async Task A_schema_newer_than_the_coordinator_is_refused_naming_both_versions_and_left_as_it_is()
    {
        var (db, setting) = await server.CreateDatabaseAsync();
        await (await PostgresStore.OpenAsync(setting)).DisposeAsync();
        var newer = PostgresSchema.Version + 5;
        await server.ExecuteAsync(db, $"UPDATE nodefleet_schema SET version = {newer}");

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => PostgresStore.OpenAsync(setting));
        Assert.Contains($"version {newer}", e.Message);
        Assert.Contains($"up to version {PostgresSchema.Version}", e.Message);
        Assert.Contains(db, e.Message);
        Assert.Equal(newer, await server.ScalarAsync<int>(db, "SELECT version FROM nodefleet_schema"));
    }

    [Fact]
    public async Task Two_coordinators_updating_the_same_record_from_the_same_revision_exactly_one_wins()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var a = await PostgresStore.OpenAsync(setting);
        await using var b = await PostgresStore.OpenAsync(setting);
        for (var round = 0; round < 20; round++)
        {
            var name = $"n{round}";
            await a.WriteAsync(s => s.Nodes.Insert(new NodeRecord { Name = name }));
            var fromA = a.Nodes.Get(name)!;
            var fromB = b.Nodes.Get(name)!;
            fromA.Phase = "a";
            fromB.Phase = "b";
            using var start = new ManualResetEventSlim();
            async Task<string> Try(ICoordinatorStore store, NodeRecord node)
            {
                await Task.Yield();
                start.Wait();
                try
                {
                    await store.WriteAsync(s => s.Nodes.Update(node));
                    return node.Phase;
                }
                catch (ConflictException) { return ""; }
            }
            var attempts = new[] { Task.Run(() => Try(a, fromA)), Task.Run(() => Try(b, fromB)) };
            start.Set();
            var results = await Task.WhenAll(attempts);
            var winner = Assert.Single(results, r => r.Length > 0);
            var stored = b.Nodes.Get(name)!;
            Assert.Equal((winner, 2L), (stored.Phase, stored.Revision));
        }
    }

    [Fact]
    public async Task On_the_databases_clock_an_expired_lease_is_taken_over_with_a_larger_token_and_the_old_holder_is_fenced()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        // No clock given: expiry is the database's, whatever the coordinators' clocks say.
        await using var a = await PostgresStore.OpenAsync(setting);
        await using var b = await PostgresStore.OpenAsync(setting);
        var ttl = TimeSpan.FromSeconds(1);
        var leaseA = await a.Leases.TryAcquireAsync("rollouts", "coordinator-a", ttl);
        Assert.NotNull(leaseA);
        Assert.Null(await b.Leases.TryAcquireAsync("rollouts", "coordinator-b", ttl));

        await Task.Delay(ttl + TimeSpan.FromMilliseconds(300));
        var leaseB = await b.Leases.TryAcquireAsync("rollouts", "coordinator-b", TimeSpan.FromSeconds(30));
        Assert.NotNull(leaseB);
        Assert.True(leaseB!.Token > leaseA!.Token);
        Assert.Null(await a.Leases.RenewAsync(leaseA, ttl));

        await Assert.ThrowsAsync<LeaseLostException>(() => a.WriteAsync(s =>
        {
            s.RequireLease(leaseA);
            s.Plans.Insert(new PlanRecord { Name = "from-a" });
        }));
        await b.WriteAsync(s =>
        {
            s.RequireLease(leaseB);
            s.Plans.Insert(new PlanRecord { Name = "from-b" });
        });
        Assert.Equal(["from-b"], a.Plans.List().Select(p => p.Name));
    }

    [Fact]
    public async Task A_write_under_a_lease_holds_off_a_takeover_until_it_commits()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        var time = new ManualTime();
        await using var a = await PostgresStore.OpenAsync(setting, time);
        await using var b = await PostgresStore.OpenAsync(setting, time);
        var leaseA = (await a.Leases.TryAcquireAsync("rollouts", "coordinator-a", TimeSpan.FromSeconds(15)))!;
        using var checkedLease = new ManualResetEventSlim();
        using var finish = new ManualResetEventSlim();
        var write = Task.Run(() => a.WriteAsync(s =>
        {
            s.RequireLease(leaseA);
            checkedLease.Set();
            finish.Wait();
            s.Plans.Insert(new PlanRecord { Name = "under-a" });
        }));
        Assert.True(checkedLease.Wait(TimeSpan.FromSeconds(10)));
        time.Advance(TimeSpan.FromSeconds(20));
        var takeover = Task.Run(() => b.Leases.TryAcquireAsync("rollouts", "coordinator-b", TimeSpan.FromSeconds(15)));
        await Task.Delay(300);
        Assert.False(takeover.IsCompleted); // waits for A's write, which checked its lease, to end
        finish.Set();
        await write;
        Assert.True((await takeover)!.Token > leaseA.Token);
        Assert.NotNull(b.Plans.Get("under-a"));
    }

    [Fact]
    public async Task Writes_queued_while_the_writers_are_busy_commit_together_and_one_that_fails_is_undone_alone()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var store = await PostgresStore.OpenAsync(setting);
        await store.WriteAsync(s => s.Plans.Insert(new PlanRecord { Name = "taken" }));
        // A copy that a write below updates from after another write moved the plan on: a compare-and-swap that must fail.
        var stale = store.Plans.Get("taken")!;
        await store.WriteAsync(s => s.Plans.Update(s.Plans.Get("taken")!));
        // Each writer held inside a write of its own, taken one at a time so that no writer holds two.
        var gates = Enumerable.Range(0, PostgresStore.Writers).Select(_ => new ManualResetEventSlim()).ToList();
        var held = new List<Task>();
        for (var i = 0; i < gates.Count; i++)
        {
            using var started = new ManualResetEventSlim();
            var gate = gates[i];
            var name = $"held{i}";
            held.Add(store.WriteAsync(s => { started.Set(); gate.Wait(); s.Plans.Insert(new PlanRecord { Name = name }); }));
            Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        }

        // Queued meanwhile: good writes, one that throws after its insert, two that catch a statement PostgreSQL
        // refused (the transaction is then unusable), one in the middle and one last, and one whose compare-and-swap
        // finds the plan changed (an update sent with the write's last statements, its conflict seen there). One good
        // write updates the plan and reads it back inside the write: it sees its own update.
        const int count = 30;
        var firstSeenByLast = true;
        long revisionSeen = 0;
        var writes = new List<(string Name, Task Task)>();
        for (var i = 0; i < count; i++)
        {
            var name = i switch { 7 => "thrown", 12 => "swallowed-middle", 20 => "stale", count - 1 => "swallowed-last", _ => $"ok{i}" };
            var last = i == count - 2;
            writes.Add((name, store.WriteAsync(s =>
            {
                s.Plans.Insert(new PlanRecord { Name = name });
                if (name == "thrown") throw new InvalidOperationException("refused by its lambda");
                if (name == "stale") s.Plans.Update(stale);
                if (name == "ok3")
                {
                    s.Plans.Update(s.Plans.Get("taken")!);
                    revisionSeen = s.Plans.Get("taken")!.Revision;
                }
                if (name.StartsWith("swallowed", StringComparison.Ordinal))
                {
                    // A NUL in a text column: PostgreSQL refuses the statement.
                    try { s.Plans.Insert(new PlanRecord { Name = "nul\0" }); }
                    catch (Exception) { }
                }
                // Read through another connection: the first write is not committed while the last runs.
                if (last) firstSeenByLast = store.Plans.Get("ok0") is not null;
            })));
        }
        gates[0].Set();
        await held[0];
        foreach (var (name, task) in writes.Where(w => w.Name.StartsWith("ok", StringComparison.Ordinal))) await task;
        foreach (var gate in gates) gate.Set();
        await Task.WhenAll(held);

        Assert.False(firstSeenByLast);
        Assert.Equal("refused by its lambda",
            (await Assert.ThrowsAsync<InvalidOperationException>(() => writes.Single(w => w.Name == "thrown").Task)).Message);
        foreach (var name in new[] { "swallowed-middle", "swallowed-last" })
            Assert.Contains("caught", (await Assert.ThrowsAsync<IOException>(() => writes.Single(w => w.Name == name).Task)).Message);
        Assert.Contains("changed meanwhile", (await Assert.ThrowsAsync<ConflictException>(() => writes.Single(w => w.Name == "stale").Task)).Message);
        var stored = store.Plans.List().Select(p => p.Name).ToHashSet();
        Assert.All(writes, w => Assert.Equal(w.Name.StartsWith("ok", StringComparison.Ordinal), stored.Contains(w.Name)));
        Assert.Equal(count - 4 + PostgresStore.Writers + 1, stored.Count);
        Assert.Equal(3, revisionSeen);
        Assert.Equal(3, store.Plans.Get("taken")!.Revision);
        foreach (var gate in gates) gate.Dispose();
    }

    [Fact]
    public async Task An_event_committed_while_an_older_transaction_runs_is_shown_only_after_it_so_a_reader_misses_none()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var a = await PostgresStore.OpenAsync(setting);
        await using var b = await PostgresStore.OpenAsync(setting);
        using var added = new ManualResetEventSlim();
        using var finish = new ManualResetEventSlim();
        // A starts first (the older transaction) and commits last.
        var older = Task.Run(() => a.WriteAsync(s =>
        {
            s.Events.Add(new EventRecord { Reason = "older", Time = DateTime.UtcNow });
            added.Set();
            finish.Wait();
        }));
        Assert.True(added.Wait(TimeSpan.FromSeconds(10)));
        await b.WriteAsync(s => s.Events.Add(new EventRecord { Reason = "newer", Time = DateTime.UtcNow }));

        // A reader now must not be shown "newer" alone: it would page on past "older" and never see it.
        Assert.Empty(b.Events.Newest(new EventQuery(10)));
        finish.Set();
        await older;
        var events = b.Events.Newest(new EventQuery(10));
        Assert.Equal(["older", "newer"], events.Select(e => e.Reason));
        Assert.True(string.CompareOrdinal(events[0].Id, events[1].Id) < 0);
        Assert.Equal(["older"], b.Events.Newest(new EventQuery(10, Before: events[1].Id)).Select(e => e.Reason));
    }

    [Fact]
    public async Task Every_kind_of_selector_is_matched_by_the_database_as_the_selector_itself_matches()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var store = await PostgresStore.OpenAsync(setting);
        var nodes = new[]
        {
            new NodeRecord { Name = "a", Labels = { ["role"] = "worker", ["zone"] = "z1" } },
            new NodeRecord { Name = "b", Labels = { ["role"] = "worker", ["zone"] = "z2", ["gpu"] = "" } },
            new NodeRecord { Name = "c", Labels = { ["role"] = "control-plane" } },
            new NodeRecord { Name = "d", Labels = { ["zone"] = "z3", ["example.com/tier"] = "web" } },
            new NodeRecord { Name = "e" },
        };
        await store.WriteAsync(s => { foreach (var n in nodes) s.Nodes.Insert(n); });
        foreach (var text in new[]
                 {
                     "role=worker", "role!=worker", "gpu", "!gpu", "zone in (z1,z3)", "zone notin (z1,z3)",
                     "role=worker,zone!=z1", "example.com/tier=web", "role in (worker),!gpu", "missing=x",
                 })
        {
            var selector = NodeFleet.Labels.LabelSelector.Parse(text);
            var expected = nodes.Where(n => selector.Matches(n.Labels)).Select(n => n.Name);
            Assert.True(expected.SequenceEqual(store.Nodes.List(selector).Select(n => n.Name)), $"selector {text}");
        }
    }

    [Fact]
    public async Task One_nodes_progress_in_a_large_rollout_rewrites_that_nodes_row_alone()
    {
        var (db, setting) = await server.CreateDatabaseAsync();
        await using var store = await PostgresStore.OpenAsync(setting);
        var rollout = new NodeFleet.Coordinator.Rollouts.RolloutRecord
        {
            Id = "big", PlanName = "p", State = NodeFleet.Coordinator.Rollouts.RolloutState.Rolling,
            Nodes = Enumerable.Range(0, 500).Select(i => new NodeFleet.Coordinator.Rollouts.RolloutNodeRecord { Name = $"n{i:000}", Wave = i / 100 }).ToList(),
        };
        await store.WriteAsync(s => s.Rollouts.Insert(rollout));
        Task<long> RowsWrittenLast() => server.ScalarAsync<long>(db,
            "SELECT count(*) FROM rollout_nodes WHERE xmin::text::bigint = (SELECT max(xmin::text::bigint) FROM rollout_nodes)");
        Assert.Equal(500, await RowsWrittenLast());

        // Read afresh (as another coordinator would), one node moved on.
        var read = store.Rollouts.Get("big")!;
        read.Node("n250")!.State = NodeFleet.Coordinator.Rollouts.RolloutNodeState.Running;
        read.Node("n250")!.StartedAt = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await store.WriteAsync(s => s.Rollouts.Update(read));
        Assert.Equal(1, await RowsWrittenLast());
        Assert.Equal("n250", await server.ScalarAsync<string>(db,
            "SELECT name FROM rollout_nodes ORDER BY xmin::text::bigint DESC LIMIT 1"));

        var again = store.Rollouts.Get("big")!;
        Assert.Equal((NodeFleet.Coordinator.Rollouts.RolloutNodeState.Running, 2L), (again.Node("n250")!.State, again.Revision));
        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"n{i:000}"), again.Nodes.Select(n => n.Name));
    }

    [Fact]
    public async Task One_steps_report_rewrites_that_steps_row_alone_not_the_runs_list()
    {
        var (db, setting) = await server.CreateDatabaseAsync();
        await using var store = await PostgresStore.OpenAsync(setting);
        var run = new RunHistoryRecord
        {
            Id = "n1:r", RunId = "r", Node = "n1",
            Steps = Enumerable.Range(0, 20).Select(i => new StepHistoryRecord { Phase = "p", Step = $"s{i:00}", State = 2 }).ToList(),
        };
        await store.WriteAsync(s => s.Runs.Insert(run));
        Task<long> RowsWrittenLast() => server.ScalarAsync<long>(db,
            "SELECT count(*) FROM run_steps WHERE xmin::text::bigint = (SELECT max(xmin::text::bigint) FROM run_steps)");
        Assert.Equal(20, await RowsWrittenLast());
        Assert.False(await server.ScalarAsync<bool>(db, "SELECT doc ? 'Steps' FROM runs"));

        var read = store.Runs.Get("n1:r")!;
        read.Steps[7].State = 3;
        await store.WriteAsync(s => s.Runs.Update(read));
        Assert.Equal(1, await RowsWrittenLast());
        Assert.Equal(7, await server.ScalarAsync<int>(db, "SELECT ord FROM run_steps ORDER BY xmin::text::bigint DESC LIMIT 1"));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i == 7 ? 3 : 2), store.Runs.Get("n1:r")!.Steps.Select(x => x.State));

        // A write that fails after changing a step commits nothing; the next write of the same record still writes it.
        read.Steps[3].State = 4;
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.WriteAsync(s =>
        {
            s.Runs.Update(read);
            throw new InvalidOperationException("after the update");
        }));
        Assert.Equal(2, store.Runs.Get("n1:r")!.Steps[3].State);
        read.Revision = 2;
        await store.WriteAsync(s => s.Runs.Update(read));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i switch { 7 => 3, 3 => 4, _ => 2 }), store.Runs.Get("n1:r")!.Steps.Select(x => x.State));

        // Deleted with its run (retention, or a run removed).
        await store.WriteAsync(s => s.Runs.Delete("n1:r"));
        Assert.Equal(0, await server.ScalarAsync<long>(db, "SELECT count(*) FROM run_steps"));
    }

    [Fact]
    public async Task A_runs_update_that_finds_the_run_changed_writes_none_of_its_steps_even_when_the_conflict_is_caught()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var a = await PostgresStore.OpenAsync(setting);
        await using var b = await PostgresStore.OpenAsync(setting);
        await a.WriteAsync(s => s.Runs.Insert(new RunHistoryRecord
        {
            Id = "n1:r", RunId = "r", Node = "n1", Steps = [new StepHistoryRecord { Phase = "p", Step = "s0", State = 1 }],
        }));
        var stale = a.Runs.Get("n1:r")!;
        // Another coordinator moves the run on by one revision: the revision the stale update would write next.
        var moved = b.Runs.Get("n1:r")!;
        moved.Steps[0].State = 2;
        await b.WriteAsync(s => s.Runs.Update(moved));

        stale.Steps[0].State = 9;
        stale.Steps.Add(new StepHistoryRecord { Phase = "p", Step = "s1", State = 9 });
        var caught = await a.WriteAsync(s =>
        {
            try
            {
                s.Runs.Update(stale);
                // Sends the update (queued until the write's next statement) and runs its check.
                s.Runs.Get("n1:r");
                return "";
            }
            catch (ConflictException e) { return e.Message; }
        });
        Assert.Contains("run n1:r was changed meanwhile (revision 2, this change was made on 1)", caught);
        var stored = a.Runs.Get("n1:r")!;
        Assert.Equal(2, stored.Revision);
        Assert.Equal([("s0", 2)], stored.Steps.Select(x => (x.Step, x.State)));
    }

    [Fact]
    public async Task Runs_stored_with_their_steps_in_the_document_have_them_moved_to_rows_by_the_migration()
    {
        var (db, setting) = await server.CreateDatabaseAsync();
        await (await PostgresStore.OpenAsync(setting)).DisposeAsync();
        // The database as schema version 11 left it: each run's steps inside its document.
        await server.ExecuteAsync(db, """
            DROP TABLE run_steps;
            UPDATE nodefleet_schema SET version = 11;
            INSERT INTO runs (id, revision, doc, node, started_at) VALUES
              ('n1:r1', 4, '{"Id": "n1:r1", "RunId": "r1", "Node": "n1", "State": 2, "Steps": [
                 {"Phase": "preflight", "Step": "a", "State": 2, "Message": "ok", "OutputTail": "", "Changed": false},
                 {"Phase": "kubelet-config", "Step": "b", "State": 3, "Message": "no", "OutputTail": "tail", "Changed": true,
                  "StartedAt": "2030-01-01T00:00:00Z", "FinishedAt": null}]}', 'n1', '2030-01-01T00:00:00Z'),
              ('n1:r2', 1, '{"Id": "n1:r2", "RunId": "r2", "Node": "n1", "State": 1, "Steps": []}', 'n1', '2030-01-02T00:00:00Z'),
              ('n1:r3', 1, '{"Id": "n1:r3", "RunId": "r3", "Node": "n1", "State": 1}', 'n1', '2030-01-03T00:00:00Z');
            """);

        await using var store = await PostgresStore.OpenAsync(setting);
        Assert.Equal(PostgresSchema.Version, await server.ScalarAsync<int>(db, "SELECT version FROM nodefleet_schema"));
        var r1 = store.Runs.Get("n1:r1")!;
        Assert.Equal((4L, 2), (r1.Revision, r1.State));
        Assert.Equal([("preflight", "a", 2, "ok", "", false), ("kubelet-config", "b", 3, "no", "tail", true)],
            r1.Steps.Select(x => (x.Phase, x.Step, x.State, x.Message, x.OutputTail, x.Changed)));
        Assert.Equal(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc), r1.Steps[1].StartedAt);
        Assert.Empty(store.Runs.Get("n1:r2")!.Steps);
        Assert.Empty(store.Runs.Get("n1:r3")!.Steps);
        Assert.Equal(0, await server.ScalarAsync<long>(db, "SELECT count(*) FROM runs WHERE doc ? 'Steps'"));

        // Written on from there as any run.
        r1.Steps[0].Message = "again";
        await store.WriteAsync(s => s.Runs.Update(r1));
        Assert.Equal(["again", "no"], store.Runs.ListByNode("n1", 5).Single(r => r.Id == "n1:r1").Steps.Select(x => x.Message));
    }

    [Fact]
    public async Task A_write_that_throws_leaves_nothing_behind_and_the_next_write_goes_through()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var store = await PostgresStore.OpenAsync(setting);
        await store.WriteAsync(s => s.Plans.Insert(new PlanRecord { Name = "p" }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.WriteAsync(s =>
        {
            s.Plans.Insert(new PlanRecord { Name = "half" });
            // A refused insert inside the lambda, caught there, leaves the transaction usable.
            Assert.Throws<AlreadyExistsException>(() => s.Plans.Insert(new PlanRecord { Name = "p" }));
            s.Events.Add(new EventRecord { Reason = "half" });
            throw new InvalidOperationException("the lambda gave up");
        }));
        Assert.Null(store.Plans.Get("half"));
        Assert.Empty(store.Events.Newest(new EventQuery(10)));
        await store.WriteAsync(s => s.Plans.Insert(new PlanRecord { Name = "next" }));
        Assert.Equal(["next", "p"], store.Plans.List().Select(p => p.Name));
    }

    [Fact]
    public async Task A_message_enqueued_through_one_coordinator_wakes_another_on_the_same_database_and_is_read_there()
    {
        var (_, setting) = await server.CreateDatabaseAsync();
        await using var a = await PostgresStore.OpenAsync(setting);
        await using var b = await PostgresStore.OpenAsync(setting);
        var woken = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Outbox.Enqueued += r => { if (r == "far-node") woken.TrySetResult(r); };
        // The listener starts with the first handler: a message enqueued before it listens would be missed (readers poll
        // for those), so this one goes out once B is surely listening.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!woken.Task.IsCompleted)
        {
            await a.Outbox.EnqueueAsync("far-node", [42]);
            try { await woken.Task.WaitAsync(TimeSpan.FromMilliseconds(500), deadline.Token); }
            catch (TimeoutException) { }
        }
        var pending = await b.Outbox.PendingAsync("far-node", 100);
        Assert.NotEmpty(pending);
        Assert.All(pending, m => Assert.Equal([42], m.Payload));
        foreach (var m in pending) Assert.True(await b.Outbox.RemoveAsync("far-node", m.Id));
        Assert.Empty(await a.Outbox.PendingAsync("far-node", 100));
    }
}
