using NodeFleet.Logging;

namespace NodeFleet.Tests.Shared;

/// <summary>Priority prefixes only when stdout is the very journal stream systemd names in JOURNAL_STREAM.</summary>
public class LogSetupTests
{
    [Theory]
    // A service's stdout connected to journald: the stream's inode is the socket's.
    [InlineData("8:25871", "socket:[25871]", true)]
    // Started by a service (the variable is inherited) but writing to a pipe, a file or another socket.
    [InlineData("8:25871", "pipe:[25871]", false)]
    [InlineData("8:25871", "/var/log/join.log", false)]
    [InlineData("8:25871", "socket:[99]", false)]
    // A terminal, with or without the variable.
    [InlineData("8:25871", "/dev/pts/3", false)]
    [InlineData(null, "/dev/pts/3", false)]
    [InlineData(null, "socket:[25871]", false)]
    [InlineData("", "socket:[25871]", false)]
    // Malformed values are not the journal.
    [InlineData("25871", "socket:[25871]", false)]
    [InlineData("8:x", "socket:[x]", false)]
    [InlineData("8:25871", null, false)]
    public void Journal_is_detected_by_the_stream_stdout_is(string? journalStream, string? stdoutTarget, bool expected) =>
        Assert.Equal(expected, LogSetup.StdoutIsJournal(journalStream, stdoutTarget));

    [Fact]
    public void A_test_run_whose_stdout_is_no_journal_is_not_taken_for_one()
    {
        // This process's own stdout, whatever it is here, is not the stream named by a made-up JOURNAL_STREAM.
        var target = new FileInfo("/proc/self/fd/1").LinkTarget;
        Assert.NotNull(target);
        Assert.False(LogSetup.StdoutIsJournal("8:1", target));
    }
}
