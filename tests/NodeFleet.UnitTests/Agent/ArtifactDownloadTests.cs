using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Phases;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The stage-artifacts download against a real HTTP server on loopback that misbehaves on purpose: it stalls, sends
/// too much, or closes the connection. Each must fail the step with its reason and leave nothing in the cache.
/// </summary>
public sealed class ArtifactDownloadTests : IDisposable
{
    private static readonly DownloadLimits Tight = new(TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(500), 1000, TimeSpan.FromSeconds(30));
    private readonly TempDir _root = new();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _http = new();

    public ArtifactDownloadTests() => _listener.Start();

    public void Dispose()
    {
        _http.Dispose();
        _listener.Stop();
        _root.Dispose();
    }

    private string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/kubelet";

    /// <summary>Accepts one connection, reads the request, then lets <paramref name="respond"/> write raw bytes.</summary>
    private Task Serve(Func<NetworkStream, Task> respond) => Task.Run(async () =>
    {
        using var client = await _listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        var request = new StringBuilder();
        var buffer = new byte[4096];
        while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer);
            if (n == 0) return;
            request.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        await respond(stream);
    });

    private static async Task Write(NetworkStream s, string text) => await s.WriteAsync(Encoding.ASCII.GetBytes(text));

    private async Task<StepFailedException> Download(byte[] expected, DownloadLimits limits)
    {
        var artifact = new Artifact { Name = "kubelet", Url = Url, Sha256 = Convert.ToHexStringLower(SHA256.HashData(expected)) };
        var root = new HostRoot(_root.Path);
        var ctx = new StepContext(new NodePlan(), new HostFiles(root), new Systemctl("/bin/false"), null, new CommandRunner(root),
            TimeProvider.System, NullLogger.Instance) { ChangedUnits = new HashSet<string>(), RestartedUnits = new HashSet<string>() };
        var step = new StageArtifactStep(artifact, new HostNetwork(_http), limits);
        var error = await Assert.ThrowsAsync<StepFailedException>(() => step.ApplyAsync(ctx, CancellationToken.None));
        var cache = Path.Combine(_root.Path, ArtifactCache.Dir.TrimStart('/'));
        Assert.Empty(Directory.Exists(cache) ? Directory.GetFiles(cache) : []);
        return error;
    }

    [Fact]
    public async Task A_server_that_stops_sending_fails_the_step_after_the_stall_timeout()
    {
        using var release = new CancellationTokenSource();
        var server = Serve(async s =>
        {
            await Write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            await Task.Delay(Timeout.Infinite, release.Token).ContinueWith(_ => { });
        });
        var error = await Download(new byte[100], Tight);
        Assert.Equal($"download of {Url} failed: no data for 500ms", error.Message);
        await release.CancelAsync();
        await server;
    }

    [Fact]
    public async Task A_server_that_trickles_without_ever_stalling_fails_the_step_after_the_total_timeout()
    {
        using var release = new CancellationTokenSource();
        var server = Serve(async s =>
        {
            await Write(s, "HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n");
            try
            {
                for (var i = 0; i < 900 && !release.IsCancellationRequested; i++)
                {
                    await s.WriteAsync(new byte[1]);
                    await Task.Delay(100);
                }
            }
            catch (IOException) { } // the client hung up, as it should
        });
        // A byte every 100 ms, never 2 s without one (room for a loaded machine), yet 3 s are not enough for all 900.
        var error = await Download(new byte[900], Tight with { StallTimeout = TimeSpan.FromSeconds(2), TotalTimeout = TimeSpan.FromSeconds(3) });
        Assert.Matches(@"^download of .* failed: not done within 3s \(\d+ bytes so far\)$", error.Message);
        await release.CancelAsync();
        await server;
    }

    [Fact]
    public async Task A_server_that_never_answers_fails_the_step_after_the_response_timeout()
    {
        using var release = new CancellationTokenSource();
        var server = Serve(async _ => await Task.Delay(Timeout.Infinite, release.Token).ContinueWith(_ => { }));
        var error = await Download(new byte[10], Tight);
        Assert.Equal($"download of {Url} failed: no response within 2s", error.Message);
        await release.CancelAsync();
        await server;
    }

    [Fact]
    public async Task A_declared_length_over_the_limit_is_refused_before_reading()
    {
        var server = Serve(s => Write(s, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"));
        var error = await Download(new byte[10], Tight);
        Assert.Contains("it is 5000 bytes, more than the 1000 an artifact may have", error.Message);
        await server;
    }

    [Fact]
    public async Task A_body_without_a_length_is_cut_at_the_limit()
    {
        var server = Serve(async s =>
        {
            await Write(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            try { for (var i = 0; i < 100; i++) await s.WriteAsync(new byte[100]); }
            catch (IOException) { } // the client hung up, as it should
        });
        var error = await Download(new byte[10], Tight);
        Assert.Contains("stopped: more than the 1000 bytes an artifact may have", error.Message);
        await server;
    }

    [Fact]
    public async Task A_refused_connection_says_so_instead_of_an_error_while_sending_the_request()
    {
        _listener.Stop(); // nothing listens on the port any more
        var error = await Download(new byte[10], Tight);
        Assert.DoesNotContain("An error occurred while sending the request", error.Message);
        Assert.Contains("Connection refused", error.Message);
    }

    [Fact]
    public async Task A_connection_closed_mid_body_names_the_cause()
    {
        var server = Serve(async s =>
        {
            await Write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            s.Socket.Close(0); // reset
        });
        var error = await Download(new byte[100], Tight);
        Assert.StartsWith($"download of {Url} failed: ", error.Message);
        Assert.True(error.Message.Length > $"download of {Url} failed: ".Length + 10, error.Message);
        await server;
    }
}
