using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Admission;
using NodeFleet.Coordinator.Errors;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

public sealed class JoinGuardTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.0.0.1"), B = IPAddress.Parse("10.0.0.2");

    [Fact]
    public void A_source_is_refused_after_its_failures_until_the_oldest_leaves_the_window_and_others_are_not()
    {
        var time = new ManualTime();
        var counted = new List<string>();
        var guard = new JoinGuard(NullLogger<JoinGuard>.Instance, time, counted.Add);
        for (var i = 0; i < JoinGuard.MaxFailures; i++)
        {
            guard.Check(A);
            guard.Failed(A, "join", "abcdef", "the secret does not match");
            time.Advance(TimeSpan.FromSeconds(1));
        }
        var e = Assert.Throws<TooManyAttemptsException>(() => guard.Check(A));
        Assert.Contains("too many refused join attempts from 10.0.0.1 (10 in the last 1 minute); try again in 50s", e.Message);
        guard.Check(B);

        time.Advance(TimeSpan.FromSeconds(50)); // the first failure leaves the window
        guard.Check(A);
        Assert.Equal(Enumerable.Repeat("join", 10).Append("throttled"), counted);
    }
}
