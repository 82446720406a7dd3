using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Store;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>
/// Keeps this coordinator's CAs as the store has them: a CA rotation made through another coordinator on the same
/// PostgreSQL database is seen at the next reload (every few seconds), one made here at once. When the CA the serving
/// certificate must come from has changed (a rotation finished), a new serving certificate is issued from it and served
/// from the next handshake.
/// </summary>
public sealed class TrustRefresher(CertificateAuthority ca, ICoordinatorStore store, ServingCertificate serving, DataDirectory dir,
    IOptions<CoordinatorOptions> options, ILogger<TrustRefresher> log) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    private readonly object _gate = new();

    /// <summary>Reads the store's CAs now; true when they changed.</summary>
    public bool Reload()
    {
        lock (_gate)
        {
            var changed = ca.Update(store.Authorities.List());
            if (changed)
                log.LogInformation("Fleet CAs: {Cas} (rotation phase {Phase})",
                    string.Join(", ", ca.All.Select(a => $"generation {a.Generation} {a.State} {a.Hash}")), ca.Phase);
            if (!IssuedBy(serving.Current, ca.ServingCertificate))
            {
                var next = ServingCertificateRenewer.Reissue(serving, ca, dir, options.Value.ServingCertificateValidity);
                serving.Replace(next);
                log.LogWarning("Serving a new certificate from CA {Hash}: serial {Serial}, valid until {NotAfter:u}",
                    CaHash.Of(ca.ServingCertificate), Pki.SerialOf(next), next.NotAfter.ToUniversalTime());
            }
            return changed;
        }
    }

    /// <summary>Before the first handshake: the serving certificate is from the right CA.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Reload();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Period, stoppingToken);
                Reload();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning("Cannot reload the fleet CAs: {Error}; the ones loaded stay in force", e.Message);
            }
        }
    }

    /// <summary>Whether <paramref name="issuer"/> signed <paramref name="cert"/>, whatever their validity dates.</summary>
    public static bool IssuedBy(X509Certificate2 cert, X509Certificate2 issuer)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(issuer);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        return chain.Build(cert) && chain.ChainElements[^1].Certificate.RawData.AsSpan().SequenceEqual(issuer.RawData);
    }
}
