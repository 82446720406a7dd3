using System.Security.Cryptography.X509Certificates;
using NodeFleet.Config;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>A node driven by the test over the real bootstrap and agent APIs, for what a real agent would never send.</summary>
public static class RawNode
{
    /// <summary>Joins <paramref name="name"/> and returns its certificate with its key.</summary>
    public static async Task<X509Certificate2> JoinAsync(TestCluster cluster, string name, string token, NodeFacts? facts = null)
    {
        using var key = Pki.NewKey();
        using var channel = GrpcChannels.Create(cluster.Address, ClientConfig.Load(cluster.AdminConf).CaCertificate(), null);
        var response = await new Bootstrap.BootstrapClient(channel).JoinAsync(new JoinRequest
        {
            Token = token, NodeName = name, CsrPem = Pki.CreateCsrPem(key, name), Facts = facts ?? new NodeFacts { Hostname = name },
        });
        using var cert = X509Certificate2.CreateFromPem(response.CertificatePem);
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>Says hello as the node, sends <paramref name="report"/> and waits for its acknowledgement.</summary>
    public static async Task ReportAsync(TestCluster cluster, X509Certificate2 cert, StepReport report)
    {
        using var channel = GrpcChannels.Create(cluster.Address, ClientConfig.Load(cluster.AdminConf).CaCertificate(), cert);
        using var call = new AgentLink.AgentLinkClient(channel).Connect();
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = "raw" } } });
        await call.RequestStream.WriteAsync(new AgentMessage { Report = report });
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.KindCase == CoordinatorMessage.KindOneofCase.ReportAck) break;
        }
        await call.RequestStream.CompleteAsync();
    }
}
