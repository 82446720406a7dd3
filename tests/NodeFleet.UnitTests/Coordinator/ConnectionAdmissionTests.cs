using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Coordinator.Admission;

namespace NodeFleet.Tests.Coordinator;

public sealed class ConnectionAdmissionTests
{
    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>A connection whose client side the test writes to.</summary>
    private static (DefaultConnectionContext Context, PipeWriter Client) Connection(string from = "10.0.0.1")
    {
        var toServer = new Pipe();
        var c = new DefaultConnectionContext
        {
            Transport = new Duplex(toServer.Reader, new Pipe().Writer),
            RemoteEndPoint = new IPEndPoint(IPAddress.Parse(from), 40000),
        };
        return (c, toServer.Writer);
    }

    private readonly List<string> _dropped = [];

    private ConnectionAdmission Admission(TimeSpan timeout, int perSource = 256) =>
        new(timeout, perSource, NullLogger.Instance, dropped: r => { lock (_dropped) _dropped.Add(r); });

    [Fact]
    public async Task A_connection_that_sends_passes_with_its_bytes_unread()
    {
        var seen = new TaskCompletionSource<byte[]>();
        var admission = Admission(TimeSpan.FromSeconds(5));
        ConnectionDelegate next = async c =>
        {
            var r = await c.Transport.Input.ReadAsync();
            seen.SetResult(System.Buffers.BuffersExtensions.ToArray(r.Buffer));
            c.Transport.Input.AdvanceTo(r.Buffer.End);
        };
        var (context, client) = Connection();
        var run = admission.BeforeTls(next)(context);
        await client.WriteAsync(new byte[] { 0x16, 0x03, 0x01 });
        await run;
        Assert.Equal(new byte[] { 0x16, 0x03, 0x01 }, await seen.Task);
        Assert.Empty(_dropped);
        Assert.Equal(0, admission.Waiting);
    }

    [Fact]
    public async Task A_silent_connection_is_dropped_after_the_timeout_without_reaching_the_handshake()
    {
        var reached = false;
        var admission = Admission(TimeSpan.FromMilliseconds(200));
        var (context, _) = Connection();
        await admission.BeforeTls(_ => { reached = true; return Task.CompletedTask; })(context);
        Assert.False(reached);
        Assert.Equal([ConnectionAdmission.Silent], _dropped);
        Assert.Equal(0, admission.Waiting);
    }

    [Fact]
    public async Task A_new_connection_drops_the_oldest_silent_one_of_its_address_and_no_other()
    {
        var admission = Admission(TimeSpan.FromMinutes(1), perSource: 2);
        var passed = 0;
        ConnectionDelegate next = _ => { Interlocked.Increment(ref passed); return Task.CompletedTask; };
        var (c1, _) = Connection();
        var (c2, _) = Connection();
        var (other, _) = Connection("10.0.0.2");
        var first = admission.BeforeTls(next)(c1);
        var second = admission.BeforeTls(next)(c2);
        var elsewhere = admission.BeforeTls(next)(other);
        Assert.Equal(3, admission.Waiting);

        var (c3, client3) = Connection();
        var third = admission.BeforeTls(next)(c3);
        await first; // evicted at once
        Assert.Equal([ConnectionAdmission.Evicted], _dropped);
        Assert.False(second.IsCompleted);
        Assert.False(elsewhere.IsCompleted);

        await client3.WriteAsync(new byte[] { 0x16 });
        await third;
        Assert.Equal(1, passed);
        Assert.Equal(2, admission.Waiting);
    }

    [Fact]
    public async Task A_client_that_closes_before_sending_is_not_counted_as_dropped()
    {
        var admission = Admission(TimeSpan.FromMinutes(1));
        var (context, client) = Connection();
        var run = admission.BeforeTls(_ => throw new InvalidOperationException("must not be reached"))(context);
        await client.CompleteAsync();
        await run;
        Assert.Empty(_dropped);
    }

    [Fact]
    public void IPv4_seen_through_an_IPv6_socket_is_one_source_with_IPv4()
    {
        var mapped = new DefaultConnectionContext { RemoteEndPoint = new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 1) };
        Assert.Equal(IPAddress.Parse("10.1.2.3"), ConnectionAdmission.SourceOf(mapped));
    }
}
