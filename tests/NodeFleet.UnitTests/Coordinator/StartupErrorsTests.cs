using System.Net.Sockets;
using NodeFleet.Config;
using NodeFleet.Coordinator.Hosting;

namespace NodeFleet.Tests.Coordinator;

public class StartupErrorsTests
{
    [Fact]
    public void Conditions_an_operator_can_fix_are_described_by_their_message()
    {
        Assert.Equal("dataDir is empty", StartupErrors.Describe(new StartupException("dataDir is empty")));
        Assert.Equal("x.yaml:3: bad", StartupErrors.Describe(new ConfigException("x.yaml:3: bad")));
        Assert.Equal("Access to the path '/x' is denied.", StartupErrors.Describe(new UnauthorizedAccessException("Access to the path '/x' is denied.")));
    }

    [Fact]
    public void A_failed_bind_says_it_cannot_listen()
    {
        var e = new IOException("Failed to bind to address https://127.0.0.1:7443: address already in use.",
            new IOException("Address already in use", new SocketException((int)SocketError.AddressAlreadyInUse)));
        Assert.Equal("cannot listen: Failed to bind to address https://127.0.0.1:7443: address already in use", StartupErrors.Describe(e));
    }

    [Theory]
    [InlineData(typeof(NullReferenceException))]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(ArgumentException))]
    [InlineData(typeof(FormatException))]
    public void Anything_else_is_a_bug_whose_trace_is_kept(Type type) =>
        Assert.Null(StartupErrors.Describe((Exception)Activator.CreateInstance(type, "boom")!));
}
