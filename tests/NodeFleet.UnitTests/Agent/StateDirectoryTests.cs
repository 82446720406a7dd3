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
