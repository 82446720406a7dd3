using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Security;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Coordinator.Services;

/// <summary>The per-node stream: hello, heartbeats, and (later) commands and reports.</summary>
public sealed class AgentLinkService(NodeRegistry registry, Presence presence, IOptions<CoordinatorOptions> options,
    TimeProvider time, ILogger<AgentLinkService> log) : AgentLink.AgentLinkBase
{
    public override async Task Connect(IAsyncStreamReader<AgentMessage> requestStream,
        IServerStreamWriter<CoordinatorMessage> responseStream, ServerCallContext context)
    {
        var caller = CallerIdentity.Require(context);
        registry.Authenticate(caller.Name, caller.Certificate);
        var address = context.GetHttpContext().Connection.RemoteIpAddress?.ToString() ?? "";

        if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.KindCase != AgentMessage.KindOneofCase.Hello)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the first message on the stream must be hello"));

        var session = presence.Open(caller.Name);
        using var scope = log.BeginScope(new Dictionary<string, object> { ["Node"] = caller.Name });
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, session.Closed.Token);
        var ct = linked.Token;
        var closeReason = "disconnected";
        try
        {
            await registry.MarkOnlineAsync(caller.Name, requestStream.Current.Hello.Facts, address);
            log.LogInformation("Node {Node} connected from {Address}", caller.Name, address);
            await responseStream.WriteAsync(new CoordinatorMessage
            {
                Welcome = new Welcome
                {
                    NodeName = caller.Name,
                    HeartbeatInterval = Duration.FromTimeSpan(options.Value.HeartbeatPeriod),
                },
            }, ct);

            while (await requestStream.MoveNext(ct))
            {
                var msg = requestStream.Current;
                session.Touch(time.GetUtcNow().UtcDateTime);
                if (session.Silent)
                {
                    // Heard from again after missing heartbeats on the same stream.
                    session.Silent = false;
                    await registry.MarkOnlineAsync(caller.Name, null, address);
                }
                switch (msg.KindCase)
                {
                    case AgentMessage.KindOneofCase.Heartbeat:
                        await responseStream.WriteAsync(new CoordinatorMessage
                        {
                            HeartbeatAck = new HeartbeatAck { Sequence = msg.Heartbeat.Sequence },
                        }, ct);
                        break;
                    case AgentMessage.KindOneofCase.Hello:
                        await registry.MarkOnlineAsync(caller.Name, msg.Hello.Facts, address);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (session.Closed.IsCancellationRequested)
        {
            closeReason = "stream replaced or node deleted";
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            if (presence.Close(session))
            {
                log.LogInformation("Node {Node} disconnected", caller.Name);
                await registry.MarkOfflineAsync(caller.Name, closeReason, session.LastSeen);
            }
        }
        // A stream closed because the node was deleted ends with the reason, so the agent can log it.
        if (session.Closed.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            registry.Authenticate(caller.Name, caller.Certificate);
    }
}
