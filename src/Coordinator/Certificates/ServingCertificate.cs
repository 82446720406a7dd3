using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Security;
using NodeFleet.IO;
using NodeFleet.Security;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>The serving certificate Kestrel hands to each new TLS handshake; replaced in place when renewed.</summary>
public sealed class ServingCertificate(X509Certificate2 initial)
{
    private volatile X509Certificate2 _current = initial;

    public X509Certificate2 Current => _current;

    /// <summary>
    /// Serves <paramref name="next"/> from the next handshake on. The previous certificate is left to the collector, not
    /// disposed: a handshake in progress may still be using it.
    /// </summary>
    public void Replace(X509Certificate2 next) => _current = next;

    /// <summary>The DNS names and IP addresses a serving certificate is for.</summary>
    public static List<string> Names(X509Certificate2 cert)
    {
        var names = new List<string>();
        foreach (var ext in cert.Extensions)
        {
            if (ext.Oid?.Value != "2.5.29.17") continue;
            var san = new X509SubjectAlternativeNameExtension(ext.RawData, ext.Critical);
            names.AddRange(san.EnumerateDnsNames());
            names.AddRange(san.EnumerateIPAddresses().Select(ip => ip.ToString()));
        }
        return names;
    }
}

/// <summary>
/// Renews the serving certificate before it expires, with a new key and the same names: at a random point between 70 %
/// and 90 % of its lifetime, or of servingCertificateLifetime when that is shorter (a lifetime shortened in the settings
/// takes effect at the next renewal). The new key and certificate are written to the data directory (so a restart serves
/// them too) and served from the next handshake: open connections, and the agents' streams on them, are untouched.
/// </summary>
public sealed class ServingCertificateRenewer(ServingCertificate serving, CertificateAuthority ca, DataDirectory dir,
    IOptions<CoordinatorOptions> options, TimeProvider time, ILogger<ServingCertificateRenewer> log) : BackgroundService
{
    /// <summary>The longest single wait: timers hold about 49 days, and a day is short enough to notice a changed clock.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(1);

    /// <summary>When to renew <paramref name="cert"/>, given the configured lifetime and a random number in [0, 1].</summary>
    public static DateTimeOffset RenewalTime(X509Certificate2 cert, TimeSpan configured, double random)
    {
        var notBefore = new DateTimeOffset(cert.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = new DateTimeOffset(cert.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        if (notAfter - notBefore > configured) notAfter = notBefore + configured;
        return Pki.RenewalTime(notBefore, notAfter, random);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lifetime = options.Value.ServingCertificateValidity;
        var failures = 0;
        var at = RenewalTime(serving.Current, lifetime, Random.Shared.NextDouble());
        log.LogInformation("The serving certificate (valid until {NotAfter:u}) is renewed at {At:u}",
            serving.Current.NotAfter.ToUniversalTime(), at.UtcDateTime);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wait = at - time.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait < MaxWait ? wait : MaxWait, time, stoppingToken);
                    continue;
                }
                var next = Renew(lifetime);
                serving.Replace(next);
                failures = 0;
                at = RenewalTime(next, lifetime, Random.Shared.NextDouble());
                log.LogInformation("Renewed the serving certificate: serial {Serial}, valid until {NotAfter:u}; next renewal at {At:u}",
                    Pki.SerialOf(next), next.NotAfter.ToUniversalTime(), at.UtcDateTime);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or StartupException)
            {
                // Retried well before the certificate runs out: a tenth of its lifetime, doubling from a second.
                failures++;
                var delay = TimeSpan.FromSeconds(Math.Min(Math.Pow(2, failures), Math.Max(1, lifetime.TotalSeconds / 10)));
                at = time.GetUtcNow() + delay;
                log.LogError("Cannot renew the serving certificate: {Error}; retrying in {Delay:0}s", e.Message, delay.TotalSeconds);
            }
        }
    }

    private X509Certificate2 Renew(TimeSpan lifetime) => Reissue(serving, ca, dir, lifetime);

    /// <summary>A new serving key and certificate with the current one's names, from the serving CA, written to the data directory.</summary>
    public static X509Certificate2 Reissue(ServingCertificate serving, CertificateAuthority ca, DataDirectory dir, TimeSpan lifetime)
    {
        using var key = Pki.NewKey();
        using var cert = ca.IssueServing(key, ServingCertificate.Names(serving.Current), lifetime);
        // The key first, as `reissue-serving-cert` does: a crash between the writes is named at the next start.
        AtomicFile.WriteAllText(dir.ServingKey, Pki.KeyToPem(key), AtomicFile.Private);
        AtomicFile.WriteAllText(dir.ServingCert, Pki.ToPem(cert), AtomicFile.Public);
        return dir.LoadServing(ca.ServingCertificate);
    }
}
