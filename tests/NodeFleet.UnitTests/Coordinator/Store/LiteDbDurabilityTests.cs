using NodeFleet.Coordinator.Commands;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.IO;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator.Store;

/// <summary>
/// The LiteDB store's files on their own: the write-ahead log is data, a database copied without it or cut short is
/// refused (and left as it was), a backup is whole, every file is private. Real LiteDB files in a temp directory.
/// </summary>
public sealed class LiteDbDurabilityTests : IDisposable
{
    private readonly TempDir _dir = new();
    private string Db => _dir.File(LiteDbStore.FileName);
    private string Log => LiteDbFiles.LogPath(Db);

    public void Dispose() => _dir.Dispose();

    private static async Task AddNodesAsync(LiteDbStore store, string prefix, int count)
    {
        await store.WriteAsync(s =>
        {
            for (var i = 0; i < count; i++) s.Nodes.Insert(new NodeRecord { Name = $"{prefix}{i}" });
        });
    }

    [Fact]
    public void The_log_is_named_as_LiteDB_names_it()
    {
        Assert.Equal(_dir.File("coordinator-log.db"), Log);
    }

    [Fact]
    public async Task Database_log_and_lock_files_are_private_including_files_found_wider()
    {
        File.WriteAllBytes(Db, []);
        File.SetUnixFileMode(Db, AtomicFile.Public);
        await using (var store = LiteDbStore.Open(Db))
        {
            await AddNodesAsync(store, "n", 3);
            Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(Db));
            Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(Log));
        }
        var dir = new DataDirectory(_dir.Path);
        File.WriteAllBytes(dir.LockFile, []);
        File.SetUnixFileMode(dir.LockFile, AtomicFile.Public);
        using (dir.Lock()) Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(dir.LockFile));
    }

    [Fact]
    public async Task Committed_writes_are_in_the_database_file_alone_after_a_checkpoint_and_at_shutdown()
    {
        var store = LiteDbStore.Open(Db);
        await AddNodesAsync(store, "a", 5);
        // Until a checkpoint the log holds them: the database file alone does not.
        Assert.True(new FileInfo(Log).Length > 0);
        await store.CheckpointAsync();
        Assert.Equal(0, new FileInfo(Log).Length);
        await AddNodesAsync(store, "b", 5);
        await store.DisposeAsync();

        // Only coordinator.db, as a backup of that file alone would have it.
        var copy = _dir.File("copy/coordinator.db");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(Db, copy);
        await using var reopened = LiteDbStore.Open(copy);
        Assert.Equal(10, reopened.Nodes.Count());
    }

    [Fact]
    public async Task A_database_copied_while_open_without_its_log_is_refused_and_left_unchanged()
    {
        var copy = _dir.File("copy/coordinator.db");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        await using (var store = LiteDbStore.Open(Db))
        {
            await AddNodesAsync(store, "a", 3);
            // The old failure: only coordinator.db backed up, while the coordinator runs; the nodes are in the log.
            File.Copy(Db, copy);
        }
        var bytes = File.ReadAllBytes(copy);
        var e = Assert.Throws<InvalidDataException>(() => LiteDbStore.Open(copy).Dispose());
        Assert.Contains("copied while a coordinator had it open", e.Message);
        Assert.Contains("write-ahead log", e.Message);
        Assert.Equal(bytes, File.ReadAllBytes(copy));
        Assert.False(File.Exists(LiteDbFiles.LogPath(copy)));
    }

    [Fact]
    public async Task A_database_older_than_the_last_checkpoint_is_refused_and_left_unchanged()
    {
        await using (var store = LiteDbStore.Open(Db)) await AddNodesAsync(store, "a", 2);
        var old = File.ReadAllBytes(Db);
        await using (var store = LiteDbStore.Open(Db)) await AddNodesAsync(store, "b", 2);

        // coordinator.db put back from an earlier copy (whole: taken after a clean shutdown) over a later state.
        File.WriteAllBytes(Db, old);
        var e = Assert.Throws<InvalidDataException>(() => LiteDbStore.Open(Db).Dispose());
        Assert.Contains("older than this data directory", e.Message);
        Assert.Contains("nodefleet-coordinator restore", e.Message);
        Assert.Equal(old, File.ReadAllBytes(Db));
    }

    [Fact]
    public async Task A_log_without_its_database_is_refused_and_left_unchanged()
    {
        var store = LiteDbStore.Open(Db);
        await AddNodesAsync(store, "a", 3);
        // Kill -9: the log keeps what the database lacks. Copy both as they are on disk, then lose the database.
        var logBytes = File.ReadAllBytes(Log);
        await store.DisposeAsync();
        File.WriteAllBytes(Log, logBytes);
        File.WriteAllBytes(Db, []);
        var e = Assert.Throws<InvalidDataException>(() => LiteDbStore.Open(Db).Dispose());
        Assert.Contains("write-ahead log", e.Message);
        Assert.Equal(logBytes, File.ReadAllBytes(Log));
        Assert.Empty(File.ReadAllBytes(Db));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.75)]
    public async Task A_truncated_database_is_refused_and_left_byte_identical(double keep)
    {
        var store = LiteDbStore.Open(Db);
        // Enough data for several pages.
        await store.WriteAsync(s =>
        {
            for (var i = 0; i < 300; i++) s.Nodes.Insert(new NodeRecord { Name = $"n{i}", StatusReason = new string('x', 200) });
        });
        await store.DisposeAsync();
        var whole = File.ReadAllBytes(Db);
        var cut = whole[..(int)(whole.Length * keep)];
        File.WriteAllBytes(Db, cut);
        File.Delete(Checkpoint);
        var e = Assert.Throws<InvalidDataException>(() => LiteDbStore.Open(Db).Dispose());
        Assert.Contains("truncated", e.Message);
        Assert.Equal(cut, File.ReadAllBytes(Db));
    }

    private string Checkpoint => _dir.File(LiteDbStore.CheckpointFileName);

    [Fact]
    public async Task A_backup_is_whole_and_restore_puts_it_in_place_of_a_newer_state_keeping_what_it_replaces()
    {
        var store = LiteDbStore.Open(Db);
        await AddNodesAsync(store, "a", 4);
        await store.WriteAsync(s => s.Cluster.Put(new ClusterRecord { AdvertiseAddress = "x:1" }));
        var (copy, number) = await store.BackupAsync();
        var backup = _dir.File("backup.db");
        File.Move(copy, backup);
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(backup));
        await AddNodesAsync(store, "later", 2);
        await store.DisposeAsync();

        var output = new StringWriter();
        RestoreCommand.Run(new RestoreCommand.Settings(_dir.Path, backup), output, TimeProvider.System);
        Assert.Contains($"checkpoint {number}", output.ToString());
        Assert.Contains("kept the file it replaced", output.ToString());
        await using var restored = LiteDbStore.Open(Db);
        Assert.Equal(4, restored.Nodes.Count());
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(Db));
    }

    [Fact]
    public void Restore_refuses_a_file_that_is_not_a_whole_coordinator_database_and_changes_nothing()
    {
        var bad = _dir.File("bad.db");
        File.WriteAllText(bad, "not a database");
        var e = Assert.Throws<StartupException>(() =>
            RestoreCommand.Run(new RestoreCommand.Settings(_dir.Path, bad), TextWriter.Null, TimeProvider.System));
        Assert.Contains("refusing to restore", e.Message);
        Assert.False(File.Exists(Db));
    }

    [Fact]
    public async Task Restore_is_refused_while_a_coordinator_holds_the_data_directory()
    {
        await using (var store = LiteDbStore.Open(Db)) await store.WriteAsync(s => s.Cluster.Put(new ClusterRecord()));
        File.Copy(Db, _dir.File("b.db"));
        using var held = new DataDirectory(_dir.Path).Lock();
        var e = Assert.Throws<StartupException>(() =>
            RestoreCommand.Run(new RestoreCommand.Settings(_dir.Path, _dir.File("b.db")), TextWriter.Null, TimeProvider.System));
        Assert.Contains("in use by another coordinator", e.Message);
    }
}
