using System.Runtime.InteropServices;

namespace NodeFleet.Agent.Execution;

/// <summary>
/// Crash-test hooks: NODEFLEET_FAILPOINT="PHASE/STEP:WHEN" (WHEN = before-apply | after-apply | after-step) makes the
/// agent kill itself with SIGKILL at that boundary, exactly as an OOM kill or power cut would stop it.
/// Unset in production; read once at start.
/// </summary>
public sealed partial class Failpoints(string? spec)
{
    public const string Variable = "NODEFLEET_FAILPOINT";

    public static Failpoints FromEnvironment() => new(Environment.GetEnvironmentVariable(Variable));

    public void Hit(string phase, string step, string when)
    {
        if (spec is null || spec != $"{phase}/{step}:{when}") return;
        Console.Error.WriteLine($"failpoint {spec}: killing the agent");
        Console.Error.Flush();
        kill(Environment.ProcessId, 9);
        Thread.Sleep(Timeout.Infinite);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
