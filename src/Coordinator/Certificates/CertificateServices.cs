using System.Security.Cryptography.X509Certificates;

namespace NodeFleet.Coordinator.Certificates;

/// <summary>The certificate lifecycle's services: the deny list and its refresher, the handshake check, the serving renewer,
/// the operator certificates.</summary>
public static class CertificateServices
{
    public static IServiceCollection AddCertificateLifecycle(this IServiceCollection services, X509Certificate2 serving)
    {
        services.AddSingleton<DenyList>();
        services.AddHostedService<DenyListRefresher>();
        services.AddSingleton<ClientCertificateCheck>();
        services.AddSingleton<OperatorCertificates>();
        services.AddSingleton(new ServingCertificate(serving));
        services.AddHostedService<ServingCertificateRenewer>();
        services.AddSingleton<TrustRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<TrustRefresher>());
        services.AddSingleton<CaRotation>();
        return services;
    }
}
