using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

public sealed class StateDirectoryTests : IDisposable
{
    private readonly TempDir _root = new();

    public void Dispose() => _root.Dispose();

    private string Dir => Path.Combine(_root.Path, AgentPaths.StateDir.TrimStart('/'));

    [Fact]
    public void The_journal_creates_the_state_directory_only_root_may_enter()
    {
        using (var journal = new Journal(new HostRoot(_root.Path))) journal.Runs.Count();
        Assert.Equal(StateDirectory.Mode, File.GetUnixFileMode(Dir));
        Assert.True(File.Exists(Path.Combine(Dir, Journal.FileName)));
    }

    [Fact]
    public void The_journal_and_its_write_ahead_log_are_private_including_files_found_wider()
    {
        var db = Path.Combine(Dir, Journal.FileName);
        var log = NodeFleet.IO.LiteDbFiles.LogPath(db);
        Assert.Equal(Path.Combine(Dir, "journal-log.db"), log);
        StateDirectory.Ensure(new HostRoot(_root.Path));
        File.WriteAllBytes(db, []);
        File.WriteAllBytes(log, []);
        File.SetUnixFileMode(db, NodeFleet.IO.AtomicFile.Public);
        File.SetUnixFileMode(log, NodeFleet.IO.AtomicFile.Public);
        using (var journal = new Journal(new HostRoot(_root.Path)))
        {
            // A committed write (its log fsynced) is there while the journal is open.
            journal.Enqueue([1, 2, 3]);
            Assert.True(new FileInfo(log).Length > 0);
            Assert.Equal(NodeFleet.IO.AtomicFile.Private, File.GetUnixFileMode(db));
            Assert.Equal(NodeFleet.IO.AtomicFile.Private, File.GetUnixFileMode(log));
        }
        using var reopened = new Journal(new HostRoot(_root.Path));
        Assert.Equal(1, reopened.Outbox.Count());
    }

    [Fact]
    public void A_state_directory_others_may_read_is_narrowed_before_anything_is_written_in_it()
    {
        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, StateDirectory.Mode | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        Assert.Equal(Dir, StateDirectory.Ensure(new HostRoot(_root.Path)));
        Assert.Equal(StateDirectory.Mode, File.GetUnixFileMode(Dir));
    }

    [Fact]
    public void A_write_below_it_before_the_journal_exists_creates_it_only_root_may_enter()
    {
        new HostRoot(_root.Path).WritablePath("/var/lib/nodefleet-agent/cache/x", createDirectories: true);
        Assert.Equal(StateDirectory.Mode, File.GetUnixFileMode(Dir));
        Assert.True(Directory.Exists(Path.Combine(Dir, "cache")));
    }
}
