using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using NodeFleet.Agent.Host;
using NodeFleet.Net;
using NodeFleet.Protocol.V1;

namespace NodeFleet.FleetSim;

/// <summary>What a burst achieved: how many reports went out and came back acknowledged, and each one's latency.</summary>
public sealed record BurstOutcome(long Sent, long Acked, TimeSpan SendDuration, double[] LatenciesMs)
{
    /// <summary>Per second of the burst (by when each report was sent): the p99 of those reports' ack latencies, in ms.</summary>
    public IReadOnlyList<double> P99BySecond { get; init; } = [];

    /// <summary>The <paramref name="q"/> quantile of the ack latencies, in ms (nearest rank).</summary>
    public double P(double q) => Quantile(LatenciesMs, q);

    /// <summary>The <paramref name="q"/> quantile of <paramref name="sorted"/> (ascending), nearest rank; NaN when empty.</summary>
    public static double Quantile(double[] sorted, double q)
    {
        if (sorted.Length == 0) return double.NaN;
        var i = (int)Math.Ceiling(q * sorted.Length) - 1;
        return sorted[Math.Clamp(i, 0, sorted.Length - 1)];
    }
}

/// <summary>
/// A lighter sender than the full executor, which cannot make 2,000 reports a second on this machine while also being
/// the fleet: each identity is a joined node (its own certificate) holding the real AgentLink.Connect stream over its own
/// mTLS channel, as the agent's link does (hello, welcome), then sending step reports paced to the rate with increasing
/// sequence numbers; the coordinator persists each before it acknowledges it.
/// </summary>
public sealed class ReportBurst(IReadOnlyList<string> addresses, IReadOnlyList<BurstIdentity> identities, int rate, TimeSpan duration)
{
    private static long _sequenceBase;

    public async Task<BurstOutcome> RunAsync(TextWriter output)
    {
        var streams = new List<Sender>();
        for (var i = 0; i < identities.Count; i++) streams.Add(await Sender.OpenAsync(addresses[i], identities[i]));
        output.WriteLine($"  {streams.Count} burst streams open; sending {rate}/s for {duration.TotalSeconds:0}s");
        var perSender = (double)rate / streams.Count;
        var total = (int)Math.Round(rate * duration.TotalSeconds);
        var counts = Enumerable.Range(0, streams.Count).Select(i => total / streams.Count + (i < total % streams.Count ? 1 : 0)).ToArray();
        var baseSeq = Interlocked.Add(ref _sequenceBase, 1_000_000) - 1_000_000;
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;
        var tasks = streams.Select((st, i) => st.SendAsync(counts[i], perSender, start + (long)(Stopwatch.Frequency / perSender * i / streams.Count), (ulong)baseSeq)).ToList();
        await Task.WhenAll(tasks);
        var sendDuration = Stopwatch.GetElapsedTime(start);
        // Wait for the last acknowledgements.
        var deadline = Stopwatch.StartNew();
        while (streams.Sum(s => s.Acked) < streams.Sum(s => s.Sent) && deadline.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);
        var timed = streams.SelectMany(s => s.Latencies).ToList();
        var latencies = timed.Select(t => t.Ms).Order().ToArray();
        var bySecond = timed.GroupBy(t => (int)Stopwatch.GetElapsedTime(start, t.SentAt).TotalSeconds).Where(g => g.Key >= 0).OrderBy(g => g.Key)
            .Select(g => BurstOutcome.Quantile(g.Select(t => t.Ms).Order().ToArray(), 0.99)).ToList();
        var outcome = new BurstOutcome(streams.Sum(s => s.Sent), streams.Sum(s => s.Acked), sendDuration, latencies) { P99BySecond = bySecond };
        foreach (var st in streams) await st.DisposeAsync();
        return outcome;
    }

    private sealed class Sender : IAsyncDisposable
    {
        private readonly Grpc.Net.Client.GrpcChannel _channel;
        private readonly AsyncDuplexStreamingCall<AgentMessage, CoordinatorMessage> _call;
        private readonly CancellationTokenSource _cts = new();
        private readonly string _name;
        private long[] _sentAt = [];
        private ulong _first;
        private Task _reader = Task.CompletedTask;
        private readonly List<(long SentAt, double Ms)> _latencies = [];

        private Sender(string name, Grpc.Net.Client.GrpcChannel channel)
        {
            _name = name;
            _channel = channel;
            _call = new AgentLink.AgentLinkClient(channel).Connect(cancellationToken: _cts.Token);
        }

        public long Sent { get; private set; }
        public long Acked => Interlocked.Read(ref _acked);
        private long _acked;
        public IReadOnlyList<(long SentAt, double Ms)> Latencies
        {
            get { lock (_latencies) return _latencies.ToList(); }
        }

        public static async Task<Sender> OpenAsync(string address, BurstIdentity id)
        {
            var root = new HostRoot(id.RootDir);
            var ca = X509Certificate2.CreateFromPem(File.ReadAllText(root.Path(AgentPaths.CaCert)));
            using var key = ECDsa.Create();
            key.ImportFromPem(File.ReadAllText(root.Path(AgentPaths.NodeKey)));
            using var pem = X509Certificate2.CreateFromPem(File.ReadAllText(root.Path(AgentPaths.NodeCert)));
            var sender = new Sender(id.Name, GrpcChannels.Create(address, ca, pem.CopyWithPrivateKey(key)));
            await sender._call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Facts = new NodeFacts { Hostname = id.Name, AgentVersion = "fleetsim" } } });
            if (!await sender._call.ResponseStream.MoveNext(sender._cts.Token) || sender._call.ResponseStream.Current.Welcome is null)
                throw new InvalidOperationException($"{id.Name}: no welcome from the coordinator");
            return sender;
        }

        public async Task SendAsync(int count, double perSecond, long startAt, ulong firstSequence)
        {
            _sentAt = new long[count];
            _first = firstSequence + 1;
            _reader = Task.Run(ReadAcksAsync);
            var runId = $"{_name}-burst-{firstSequence}";
            var started = Timestamp.FromDateTime(DateTime.UtcNow);
            for (var j = 0; j < count; j++)
            {
                var due = startAt + (long)(j * Stopwatch.Frequency / perSecond);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
                var report = new StepReport
                {
                    Sequence = _first + (ulong)j,
                    RunId = runId,
                    PlanName = "fleetsim-burst",
                    Generation = 1,
                    Phase = "kubelet-config",
                    Step = $"step-{j / 2 % 20}",
                    State = j % 2 == 0 ? StepState.Running : StepState.Succeeded,
                    RunState = RunState.Running,
                    Time = Timestamp.FromDateTime(DateTime.UtcNow),
                    StartedAt = started,
                };
                _sentAt[j] = Stopwatch.GetTimestamp();
                await _call.RequestStream.WriteAsync(new AgentMessage { Report = report });
                Sent++;
            }
        }

        private async Task ReadAcksAsync()
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(_cts.Token))
                {
                    var m = _call.ResponseStream.Current;
                    if (m.KindCase != CoordinatorMessage.KindOneofCase.ReportAck) continue;
                    var now = Stopwatch.GetTimestamp();
                    // An acknowledgement covers every report up to its sequence (the agent drops them all from its
                    // outbox): a coordinator that recorded several in one write acknowledges them with one.
                    var j = (long)(m.ReportAck.Sequence - _first);
                    if (j < 0 || j >= _sentAt.Length) continue;
                    var from = Interlocked.Read(ref _acked);
                    lock (_latencies)
                        for (var k = from; k <= j; k++) _latencies.Add((_sentAt[k], Stopwatch.GetElapsedTime(_sentAt[k], now).TotalMilliseconds));
                    if (j + 1 > from) Interlocked.Exchange(ref _acked, j + 1);
                }
            }
            catch (RpcException) { }
            catch (OperationCanceledException) { }
        }

        public async ValueTask DisposeAsync()
        {
            try { await _call.RequestStream.CompleteAsync(); } catch (Exception e) when (e is RpcException or InvalidOperationException) { }
            await _cts.CancelAsync();
            try { await _reader; } catch (Exception e) when (e is RpcException or OperationCanceledException) { }
            _call.Dispose();
            _channel.Dispose();
            _cts.Dispose();
        }
    }
}
