using System.Security.Cryptography;
using NodeFleet.Agent.Commands;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Host;
using NodeFleet.Agent.Join;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Agent;

/// <summary>
/// The node's identity files and journal as `status`, `run` and the link read them: a missing or unusable file is
/// named as a problem of this node, never taken for an unreachable coordinator.
/// </summary>
public sealed class NodeIdentityTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly HostRoot _root;

    public NodeIdentityTests()
    {
        _root = new HostRoot(_dir.Path);
        var now = DateTimeOffset.UtcNow;
        using var caKey = Pki.NewKey();
        using var ca = Pki.CreateCa(caKey, "fleet-ca", TimeSpan.FromDays(10), now);
        using var key = Pki.NewKey();
        using var cert = Pki.IssueClient(ca, caKey, new System.Security.Cryptography.X509Certificates.PublicKey(key), "node-1",
            Roles.Nodes, TimeSpan.FromDays(1), now);
        Write(AgentPaths.CaCert, Pki.ToPem(ca));
        Write(AgentPaths.NodeCert, Pki.ToPem(cert));
        Write(AgentPaths.NodeKey, Pki.KeyToPem(key));
        new AgentConfig { Coordinator = "127.0.0.1:1", NodeName = "node-1" }.Save(_root);
    }

    public void Dispose() => _dir.Dispose();

    private void Write(string hostPath, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_root.Path(hostPath))!);
        File.WriteAllText(_root.Path(hostPath), text);
    }

    [Fact]
    public void A_complete_identity_loads_with_the_key_attached()
    {
        var (ca, cert) = NodeIdentity.Load(_root);
        using (ca)
        using (cert)
        {
            Assert.True(cert.HasPrivateKey);
            Assert.Null(NodeIdentity.Problem(_root));
        }
        Assert.Equal(0, StatusCommand.Run(_root, null, TextWriter.Null));
    }

    [Fact]
    public void A_missing_key_is_named_as_missing()
    {
        File.Delete(_root.Path(AgentPaths.NodeKey));
        var e = Assert.Throws<AgentException>(() => NodeIdentity.Load(_root));
        Assert.StartsWith($"{_root.Path(AgentPaths.NodeKey)} (the node's private key): missing.", e.Message);
    }

    [Fact]
    public void A_garbage_certificate_is_named()
    {
        Write(AgentPaths.NodeCert, "garbage");
        var e = Assert.Throws<AgentException>(() => NodeIdentity.Load(_root));
        Assert.StartsWith($"{_root.Path(AgentPaths.NodeCert)} (the node's certificate): not a PEM certificate", e.Message);
    }

    [Fact]
    public void A_key_of_another_certificate_is_named()
    {
        using var other = Pki.NewKey();
        Write(AgentPaths.NodeKey, Pki.KeyToPem(other));
        var e = Assert.Throws<AgentException>(() => NodeIdentity.Load(_root));
        Assert.Contains($"it is not the key of {_root.Path(AgentPaths.NodeCert)}", e.Message);
    }

    [Fact]
    public void Status_shows_an_unusable_identity_and_exits_1()
    {
        Write(AgentPaths.NodeKey, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        var text = new StringWriter();
        Assert.Equal(1, StatusCommand.Run(_root, null, text));
        Assert.Contains("Certificate:   UNUSABLE: ", text.ToString());
        Assert.Contains("(the node's private key)", text.ToString());

        var json = new StringWriter();
        Assert.Equal(1, StatusCommand.Run(_root, "json", json));
        Assert.Contains("\"identityProblem\": \"", json.ToString());
    }

    [Fact]
    public void Status_refuses_an_unknown_output_format()
    {
        var e = Assert.Throws<ArgumentException>(() => StatusCommand.Run(_root, "xml", TextWriter.Null));
        Assert.Equal("--output: unknown format 'xml' (text or json)", e.Message);
    }

    [Fact]
    public void A_journal_that_is_not_a_database_is_refused_on_open_and_left_unchanged()
    {
        Write(AgentPaths.StateDir + "/" + Journal.FileName, "not a db");
        using var journal = new Journal(_root);
        var e = Assert.Throws<InvalidDataException>(journal.Open);
        Assert.Contains("the agent's journal", e.Message);
        Assert.Equal("not a db", File.ReadAllText(_root.Path(AgentPaths.StateDir + "/" + Journal.FileName)));
    }
}

public sealed class SystemctlTests
{
    [Fact]
    public async Task A_systemctl_that_cannot_be_run_is_a_service_manager_error_naming_it()
    {
        var e = await Assert.ThrowsAsync<ServiceManagerException>(() =>
            new Systemctl("/nonexistent/systemctl").DaemonReloadAsync(CancellationToken.None));
        Assert.StartsWith("cannot run /nonexistent/systemctl (daemon-reload): ", e.Message);
    }

    [Fact]
    public async Task A_systemctl_that_fails_silently_says_so()
    {
        var e = await Assert.ThrowsAsync<ServiceManagerException>(() => new Systemctl("/bin/false").DaemonReloadAsync(CancellationToken.None));
        Assert.Equal("systemctl daemon-reload exited 1 without a message", e.Message);
    }

    [Fact]
    public async Task What_systemctl_says_over_several_lines_becomes_one_line()
    {
        using var dir = new NodeFleet.Tests.TestSupport.TempDir();
        var script = dir.File("systemctl");
        File.WriteAllText(script, "#!/bin/sh\necho 'Job for kubelet.service failed because the control process exited with error code.' >&2\n" +
            "echo \"See 'systemctl status kubelet.service' and 'journalctl -xeu kubelet.service' for details.\" >&2\nexit 1\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var e = await Assert.ThrowsAsync<ServiceManagerException>(() => new Systemctl(script).RestartAsync("kubelet", CancellationToken.None));
        Assert.Equal("systemctl restart kubelet exited 1: Job for kubelet.service failed because the control process exited with error code. " +
            "See 'systemctl status kubelet.service' and 'journalctl -xeu kubelet.service' for details.", e.Message);
    }
}
