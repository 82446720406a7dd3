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
/// The artifact address rule against a real HTTP server on loopback: by default the agent does not fetch from this
/// node's own addresses, whether the URL names the address, a host name that resolves to it, or redirects there;
/// the node's config setting allows it. And the install step refuses a target outside the allow-list itself.
/// </summary>
public sealed class ArtifactAddressTests : IDisposable
{
    private static readonly byte[] Body = Encoding.ASCII.GetBytes("#!/bin/sh\necho payload\n");
    private readonly TempDir _root = new();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private int _served;

    public ArtifactAddressTests()
    {
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public void Dispose()
    {
        _listener.Stop();
        _root.Dispose();
    }

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Answers every request with <see cref="Body"/>, counting them.</summary>
    private async Task ServeAsync()
    {
        while (true)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            using (client)
            {
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var request = "";
                while (!request.Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await stream.ReadAsync(buffer);
                    if (n == 0) break;
                    request += Encoding.ASCII.GetString(buffer, 0, n);
                }
                Interlocked.Increment(ref _served);
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {Body.Length}\r\nConnection: close\r\n\r\n"));
                await stream.WriteAsync(Body);
            }
        }
    }

    private StepContext Context()
    {
        var root = new HostRoot(_root.Path);
        return new StepContext(new NodePlan(), new HostFiles(root), new Systemctl("/bin/false"), null, new CommandRunner(root),
            TimeProvider.System, NullLogger.Instance) { ChangedUnits = new HashSet<string>(), RestartedUnits = new HashSet<string>() };
    }

    private async Task<Exception?> Download(string url, bool allowLocal)
    {
        using var http = new HttpClient(ArtifactAddresses.Handler(() => allowLocal));
        var artifact = new Artifact { Name = "kubelet", Url = url, Sha256 = Convert.ToHexStringLower(SHA256.HashData(Body)) };
        var step = new StageArtifactStep(artifact, new HostNetwork(http));
        return await Record.ExceptionAsync(() => step.ApplyAsync(Context(), CancellationToken.None));
    }

    [Fact]
    public async Task A_default_agent_refuses_an_artifact_on_127_0_0_1_without_connecting()
    {
        var error = await Download($"http://127.0.0.1:{Port}/kubelet", allowLocal: false);

        var failed = Assert.IsType<StepFailedException>(error);
        Assert.Contains("artifact host 127.0.0.1 is refused: 127.0.0.1 is a loopback address (this node)", failed.Message);
        Assert.Contains("allowLocalArtifactAddresses: true", failed.Message);
        Assert.Equal(0, _served);
    }

    [Fact]
    public async Task A_host_name_that_resolves_to_loopback_is_refused_too()
    {
        var error = await Download($"http://localhost:{Port}/kubelet", allowLocal: false);

        var failed = Assert.IsType<StepFailedException>(error);
        Assert.Contains("artifact host localhost is refused: it resolves to", failed.Message);
        Assert.Contains("a loopback address", failed.Message);
        Assert.Equal(0, _served);
    }

    [Fact]
    public async Task The_node_setting_allows_local_addresses()
    {
        Assert.Null(await Download($"http://127.0.0.1:{Port}/kubelet", allowLocal: true));
        Assert.Equal(1, _served);
    }

    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.8.9.10", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("0.1.2.3", "0.0.0.0/8")]
    [InlineData("::", "unspecified")]
    [InlineData("169.254.169.254", "cloud metadata")]
    [InlineData("169.254.1.2", "link-local address (169.254.0.0/16)")]
    [InlineData("fe80::1", "link-local address (fe80::/10)")]
    [InlineData("fd00:ec2::254", "cloud metadata")]
    [InlineData("100.100.100.200", "cloud metadata")]
    [InlineData("10.0.0.5", null)]
    [InlineData("192.168.1.1", null)]
    [InlineData("203.0.113.7", null)]
    [InlineData("2001:db8::1", null)]
    public void Addresses_refused_and_allowed(string address, string? refused)
    {
        var why = ArtifactAddresses.Refusal(IPAddress.Parse(address));
        if (refused is null) Assert.Null(why);
        else Assert.Contains(refused, why);
    }

    [Theory]
    [InlineData("/usr/bin/systemctl")]
    [InlineData("/usr/bin/sudo")]
    [InlineData("/usr/local/bin/nodefleet-agent")]
    public async Task The_install_step_refuses_a_target_outside_the_allow_list_before_writing(string target)
    {
        // The plan never passed a validator here: the step is the agent's last word on what it writes.
        var ctx = Context();
        var sha = Convert.ToHexStringLower(SHA256.HashData(Body));
        var cached = Path.Combine(_root.Path, ArtifactCache.HostPath(sha).TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        await File.WriteAllBytesAsync(cached, Body);
        var step = new InstallArtifactStep(new Artifact { Name = "x", Url = "https://dl.example/x", Sha256 = sha, InstallPath = target, Mode = "0755" });

        var error = await Assert.ThrowsAsync<StepFailedException>(() => step.ApplyAsync(ctx, CancellationToken.None));

        Assert.StartsWith($"refused to install x at {target}: ", error.Message);
        Assert.Contains("is not a binary a node upgrade installs", error.Message);
        Assert.False(File.Exists(Path.Combine(_root.Path, target.TrimStart('/'))));
    }
}
