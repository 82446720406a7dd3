using Google.Protobuf.WellKnownTypes;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Cli;

/// <summary>Coordinator answers as the CLI receives them, around one fixed "now".</summary>
internal static class CliSamples
{
    public static readonly DateTimeOffset Now = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public static Timestamp Ago(TimeSpan t) => Timestamp.FromDateTimeOffset(Now - t);

    public static Timestamp SecondsAgo(double s) => Ago(TimeSpan.FromSeconds(s));

    public static StepHistory Step(string phase, string step, StepState state, double startedSecondsAgo, double? finishedSecondsAgo,
        string message = "", bool changed = false, string outputTail = "")
    {
        var h = new StepHistory
        {
            Phase = phase, Step = step, State = state, StartedAt = SecondsAgo(startedSecondsAgo), Message = message, Changed = changed,
            OutputTail = outputTail,
        };
        if (finishedSecondsAgo is { } f) h.FinishedAt = SecondsAgo(f);
        return h;
    }

    /// <summary>upgrade-1.31 generation 3: preflight passed, containerd config written, kubelet drop-in failed verification.</summary>
    public static RunHistory FailedRun() => new()
    {
        RunId = "upgrade-1.31-20300101115000-a1b2c3",
        PlanName = "upgrade-1.31",
        Generation = 3,
        State = RunState.Failed,
        StartedAt = SecondsAgo(600),
        FinishedAt = SecondsAgo(535),
        Error = "error execution phase kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc",
        Steps =
        {
            Step("preflight", "checks", StepState.Succeeded, 600, 599, "all checks passed"),
            Step("containerd-config", "write-config", StepState.Undone, 599, 597.5, "applied", changed: true),
            Step("kubelet-config", "write-dropin", StepState.Failed, 597.5, 535,
                "error execution phase kubelet-config/write-dropin: verification failed: kubelet rejected --max-pods=abc",
                outputTail: "E0101 11:51:04 invalid value \"abc\" for flag --max-pods\nUsage of kubelet:\n"),
        },
    };

    public static RunHistory SucceededRun() => new()
    {
        RunId = "upgrade-1.31-20291231120000-d4e5f6",
        PlanName = "upgrade-1.31",
        Generation = 2,
        State = RunState.Succeeded,
        StartedAt = Ago(TimeSpan.FromDays(1)),
        FinishedAt = Ago(TimeSpan.FromDays(1) - TimeSpan.FromSeconds(42)),
        Steps =
        {
            Step("preflight", "checks", StepState.Succeeded, 86400, 86399.9, "passed with warnings: [KernelModule-overlay] kernel module overlay does not seem to be loaded; [KernelModule-br_netfilter] kernel module br_netfilter does not seem to be loaded"),
            Step("containerd-config", "write-config", StepState.Succeeded, 86399.9, 86399.88, "/etc/containerd/config.toml is up to date"),
        },
    };

    public static NodeDescription Description(params RunHistory[] runs)
    {
        var d = new NodeDescription
        {
            Node = new Node
            {
                Name = "worker-1",
                Status = NodeStatus.Online,
                StatusChangedAt = Ago(TimeSpan.FromHours(2)),
                Phase = "kubelet-config (failed)",
                Address = "10.0.0.11",
                JoinedAt = Ago(TimeSpan.FromDays(3)),
                LastSeen = SecondsAgo(4),
                Facts = new NodeFacts { Hostname = "worker-1", Os = "Debian GNU/Linux 12 (bookworm)", Arch = "amd64" },
            },
        };
        d.Events.Add(new Event { Time = SecondsAgo(535), Type = "Warning", Reason = "PlanFailed", Node = "worker-1", Message = "plan upgrade-1.31 generation 3" });
        d.Runs.AddRange(runs);
        return d;
    }
}
