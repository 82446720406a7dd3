using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using NodeFleet.Config;
using NodeFleet.IntegrationTests.Infrastructure;
using NodeFleet.Net;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.IntegrationTests;

/// <summary>
/// Oversized plans sent straight to the coordinator's API (as a client other than the CLI could) are refused there
/// with a clear error and reach no node; the CLI refuses them before sending.
/// </summary>
public sealed class PlanLimitsOverTheWireTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync();
        var config = ClientConfig.Load(_cluster.AdminConf);
        _channel = GrpcChannels.Create(_cluster.Address, config.CaCertificate(), config.ClientCertificate());
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _cluster.DisposeAsync();
    }

    private static NodePlan WithImages(int count, int length)
    {
        var plan = AdminClients.Plan(AgentApplyTests.Plan);
        for (var i = 0; i < count; i++)
        {
            var prefix = $"registry.example/app-{i}/";
            plan.Spec.Images.Add(prefix + new string('a', Math.Max(1, length - prefix.Length - 2)) + ":1");
        }
        return plan;
    }

    private async Task AssertNoRunAsync(string node)
    {
        var d = await new Fleet.FleetClient(_channel).DescribeNodeAsync(new GetNodeRequest { Name = node });
        Assert.Empty(d.Runs);
    }

    [Fact]
    public async Task Too_many_images_are_refused_by_apply_and_by_rollout_start_naming_the_limit()
    {
        await _cluster.JoinedOnlineAgentAsync("big1");
        var plan = WithImages(PlanLimits.MaxImages + 100, 40);

        var apply = await Assert.ThrowsAsync<RpcException>(() =>
            new Fleet.FleetClient(_channel).ApplyPlanAsync(new ApplyPlanRequest { Node = "big1", Plan = plan }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, apply.StatusCode);
        Assert.Equal("invalid plan:\nspec.images: 600 images; a plan may list at most 500", apply.Status.Detail);

        var start = await Assert.ThrowsAsync<RpcException>(() =>
            new Rollouts.RolloutsClient(_channel).StartAsync(new StartRolloutRequest { Plan = plan }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, start.StatusCode);
        Assert.Equal("invalid plan:\nspec.images: 600 images; a plan may list at most 500", start.Status.Detail);
        await AssertNoRunAsync("big1");
    }

    [Fact]
    public async Task A_plan_over_the_byte_limit_is_refused_by_its_size()
    {
        await _cluster.JoinedOnlineAgentAsync("big2");
        // 400 images of 4,000 characters: each within its limits, 1.5 MiB together; the message fits in 4 MiB.
        var plan = WithImages(400, 4000);
        var e = await Assert.ThrowsAsync<RpcException>(() =>
            new Fleet.FleetClient(_channel).ApplyPlanAsync(new ApplyPlanRequest { Node = "big2", Plan = plan }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("invalid plan:\nthe plan's encoding is 1.5 MiB (", e.Status.Detail);
        Assert.EndsWith("; a plan may be at most 1 MiB (1048576 bytes)", e.Status.Detail);
        await AssertNoRunAsync("big2");
    }

    [Fact]
    public async Task A_message_over_the_request_limit_is_refused_by_the_client_and_by_the_coordinator()
    {
        // 1,200 images of 4,000 characters: 4.6 MiB, more than any request may be.
        var request = new ApplyPlanRequest { Node = "big3", Plan = WithImages(1200, 4000) };
        Assert.True(request.CalculateSize() > MessageLimits.MaxRequestBytes);

        // The project's own channels do not send it at all.
        var local = await Assert.ThrowsAsync<RpcException>(() => new Fleet.FleetClient(_channel).ApplyPlanAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, local.StatusCode);

        // A client without that limit sends it; the coordinator refuses it unread.
        var config = ClientConfig.Load(_cluster.AdminConf);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
                ClientCertificates = new X509CertificateCollection { config.ClientCertificate() },
            },
        };
        using var unlimited = GrpcChannel.ForAddress(GrpcChannels.ToUri(_cluster.Address),
            new GrpcChannelOptions { HttpHandler = handler, MaxSendMessageSize = null });
        var remote = await Assert.ThrowsAsync<RpcException>(() => new Fleet.FleetClient(unlimited).ApplyPlanAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, remote.StatusCode);

        // The coordinator is still there and answers the next call.
        Assert.NotNull(await new Fleet.FleetClient(_channel).ListNodesAsync(new ListNodesRequest()));
    }

    [Fact]
    public async Task The_cli_and_the_agent_refuse_an_oversized_plan_file_with_its_line_before_using_it()
    {
        var agent = await _cluster.JoinedOnlineAgentAsync("big4");
        var images = string.Concat(Enumerable.Range(0, PlanLimits.MaxImages + 1).Select(i => $"\n    - registry.example/app-{i}:1"));
        var file = Path.Combine(_cluster.Scratch, "many-images.yaml");
        await File.WriteAllTextAsync(file, AgentApplyTests.Plan.Replace("  skipPhases:", "  images:" + images + "\n  skipPhases:"));
        var line = File.ReadAllLines(file).ToList().IndexOf("  images:") + 1;
        foreach (var args in new[] { new[] { "plan", "apply", file, "--node", "big4" }, ["rollout", "start", file, "-l", "role=x"], ["plan", "validate", file] })
        {
            var r = await _cluster.CliAsync(args);
            Assert.Equal(1, r.ExitCode);
            Assert.Equal($"error: {file}:{line}: spec.images: 501 images; a plan may list at most 500\n", r.StdErr);
        }
        await AssertNoRunAsync("big4");

        var local = await agent.Node.AgentAsync(["apply", file]);
        Assert.Equal(1, local.ExitCode);
        Assert.Contains($"{file}:{line}: spec.images: 501 images; a plan may list at most 500", local.StdErr);
        Assert.Empty(agent.Node.SystemctlCalls());
    }
}
