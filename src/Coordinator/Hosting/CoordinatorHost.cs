using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using NodeFleet.Coordinator.Admission;
using NodeFleet.Coordinator.Certificates;
using NodeFleet.Coordinator.Coordinators;
using NodeFleet.Coordinator.Events;
using NodeFleet.Coordinator.Nodes;
using NodeFleet.Coordinator.Observability;
using NodeFleet.Coordinator.Security;
using NodeFleet.Coordinator.Services;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Tokens;
using NodeFleet.Logging;
using Serilog;
using Serilog.Events;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>Builds the coordinator's web host: configuration, logging, Kestrel with mTLS, services.</summary>
public static class CoordinatorHost
{
    /// <param name="overrides">Settings given on the command line; they win over file and environment.</param>
    /// <param name="testOnlyRolloutClock">Tests only: the rollouts' clock (`run --test-only-rollout-clock`); null = the system's.</param>
    public static WebApplication Build(string? configFile, IReadOnlyDictionary<string, string?> overrides, string? testOnlyRolloutClock = null)
    {
        var options = CoordinatorOptions.Load(configFile, overrides, Environment.GetEnvironmentVariables());
        options.Validate();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        // The settings are read above (CoordinatorOptions.Load); nothing reads the host's own configuration.
        builder.Configuration.Sources.Clear();

        var dataDir = new DataDirectory(options.DataDir);
        dataDir.EnsureUsable(databaseFile: !options.UsesPostgres);
        var dataDirLock = dataDir.Lock();

        Log.Logger = LogSetup.Configure(new LoggerConfiguration(), options.LogFormat,
            Enum.TryParse<LogEventLevel>(options.LogLevel, true, out var lvl) ? lvl : LogEventLevel.Information).CreateLogger();
        builder.Services.AddSerilog();
        // Under systemd (Type=notify in packaging/systemd), READY=1 once Kestrel listens and STOPPING on shutdown.
        builder.Services.AddSystemd();

        var listen = CoordinatorOptions.ParseListen(options.Listen);
        var metricsListen = options.MetricsEndpoint;
        ListenCheck.EnsureAvailable(listen);
        if (metricsListen is not null) ListenCheck.EnsureAvailable(metricsListen, "for /metrics (--metrics-listen)");
        var time = TimeProvider.System;
        // Opened now: the CA is in it (FleetAuthorities), and a problem with it stops the start instead of the first request.
        var store = OpenStore(options, dataDir, time);
        CertificateAuthority ca;
        System.Security.Cryptography.X509Certificates.X509Certificate2 serving;
        try
        {
            var records = FleetAuthorities.Load(store, dataDir, options.UsesPostgres, time);
            ca = new CertificateAuthority(FleetAuthorities.Authorities(records, "the store"), time, options.NodeCertificateValidity);
            // From a CA of the fleet; when not from the one it must come from (a CA rotation finished while this
            // coordinator was down), TrustRefresher issues a new one before the first handshake.
            serving = dataDir.LoadServing(ca.All.Count == 1 ? ca.Certificate : null);
            if (!ca.All.Any(a => TrustRefresher.IssuedBy(serving, a.Certificate)))
                throw new StartupException($"{dataDir.ServingCert} is not issued by a CA of the fleet: agents and the CLI trust only those " +
                    $"(issue a new one with `nodefleet-coordinator reissue-serving-cert --data-dir {dataDir.Path}`)");
        }
        catch
        {
            store.Dispose();
            throw;
        }

        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        builder.Services.AddSingleton(time);
        builder.Services.AddKeyedSingleton(NodeFleet.Coordinator.Rollouts.Windows.RolloutClock.Key,
            testOnlyRolloutClock is { Length: > 0 } ? NodeFleet.Coordinator.Rollouts.Windows.RolloutClock.Parse(testOnlyRolloutClock, time) : time);
        builder.Services.AddSingleton(dataDir);
        builder.Services.AddSingleton(new DataDirectoryLock(dataDirLock));
        builder.Services.AddSingleton(ca);
        builder.Services.AddCertificateLifecycle(serving);
        // A factory, so that the container disposes the store with the host.
        builder.Services.AddSingleton<ICoordinatorStore>(_ => store);
        builder.Services.AddSingleton<EventBus>();
        builder.Services.AddCoordinators(options, listen, time);
        builder.Services.AddObservability();
        builder.Services.AddSingleton<TokenService>();
        builder.Services.AddSingleton(sp => new JoinGuard(sp.GetRequiredService<ILogger<JoinGuard>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<CoordinatorMetrics>().CountJoinRefusal));
        builder.Services.AddSingleton<NodeFleet.Coordinator.Clusters.ClusterRegistry>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Clusters.INodeClusters>(sp => sp.GetRequiredService<NodeFleet.Coordinator.Clusters.ClusterRegistry>());
        builder.Services.AddSingleton<NodeRegistry>();
        builder.Services.AddSingleton<Presence>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Messaging.NodeMessages>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Messaging.OutboxDelivery>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NodeFleet.Coordinator.Messaging.OutboxDelivery>());
        builder.Services.AddSingleton<NodeFleet.Coordinator.Messaging.CoordinatorDirectory>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Messaging.ICoordinatorDirectory>(sp => sp.GetRequiredService<NodeFleet.Coordinator.Messaging.CoordinatorDirectory>());
        builder.Services.AddSingleton<HeartbeatPacer>();
        builder.Services.AddSingleton<ReconnectWindow>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Plans.PlanRecorder>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Plans.PlanService>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Rollouts.RolloutController>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<NodeFleet.Coordinator.Rollouts.RolloutController>());
        builder.Services.AddSingleton<NodeFleet.Coordinator.Rollouts.RolloutService>();
        builder.Services.AddSingleton<NodeFleet.Coordinator.Rollouts.Windows.WindowService>();
        builder.Services.AddHostedService<RetentionSweeper>();
        builder.Services.AddSingleton<HeartbeatMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HeartbeatMonitor>());
        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<DomainErrorInterceptor>();
            o.Interceptors.Add<AuthorizationInterceptor>();
            o.EnableDetailedErrors = false;
            // Explicit, and the same as the clients' (NodeFleet.Net.MessageLimits says what fits in them).
            o.MaxReceiveMessageSize = NodeFleet.Net.MessageLimits.MaxRequestBytes;
            o.MaxSendMessageSize = NodeFleet.Net.MessageLimits.MaxResponseBytes;
        });
        builder.Services.AddGrpcHealthChecks();
        builder.Services.AddRouting();

        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Limits.Http2.MaxStreamsPerConnection = 100;
            // A restart storm (every agent reconnecting at once) must not turn into thousands of handshakes that all
            // time out: at most this many run at a time, the other connections wait their turn (HandshakeLimiter).
            var handshakes = new HandshakeLimiter(Math.Max(64, Environment.ProcessorCount * 32), options.MaxHandshakesPerSource);
            // Before both: sockets that never send a byte take no slot (ConnectionAdmission).
            var metrics = k.ApplicationServices.GetRequiredService<CoordinatorMetrics>();
            var servingCertificate = k.ApplicationServices.GetRequiredService<ServingCertificate>();
            var clientCheck = k.ApplicationServices.GetRequiredService<ClientCertificateCheck>();
            var admission = new ConnectionAdmission(options.FirstByteTimeout, options.MaxSilentConnectionsPerSource,
                k.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger<ConnectionAdmission>(),
                dropped: metrics.CountDroppedConnection);
            k.Listen(listen, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                l.Use(admission.BeforeTls);
                l.Use(handshakes.BeforeTls);
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    // Read at every handshake: the renewer replaces it without a restart (ServingCertificateRenewer).
                    ServerCertificateSelector = (_, _) => servingCertificate.Current,
                    SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    // Discovery and join happen before a node has a certificate; every other call is checked
                    // per service by the authorization interceptor.
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    ClientCertificateValidation = (cert, _, _) => clientCheck.Accept(cert),
                });
                l.Use(handshakes.AfterTls);
                l.Use(TlsIdleBuffers.Middleware);
            });
            // /metrics, /healthz and /readyz: plain HTTP/1.1 on a port of their own (see ObservabilityEndpoint).
            if (metricsListen is not null) k.Listen(metricsListen, l => l.Protocols = HttpProtocols.Http1);
        });

        var app = builder.Build();
        app.Services.GetRequiredService<DataDirectoryLock>();
        app.Services.GetRequiredService<ICoordinatorStore>();
        store.Fatal = e =>
        {
            app.Logger.LogCritical(e, "The database engine stopped itself ({Error}); stopping the coordinator so that it restarts", e.Message);
            Environment.ExitCode = 70; // EX_SOFTWARE: systemd's Restart= brings it back on the committed state
            app.Lifetime.StopApplication();
        };
        app.UseObservabilityPort(metricsListen);
        app.UseRouting();
        app.MapGrpcService<BootstrapService>();
        app.MapGrpcService<AgentLinkService>();
        app.MapGrpcService<FleetService>();
        app.MapGrpcService<RolloutsService>();
        app.MapGrpcService<ClustersService>();
        app.MapGrpcService<WindowsService>();
        app.MapGrpcService<EventsService>();
        app.MapGrpcService<AdminsService>();
        app.MapGrpcService<CoordinatorsService>();
        app.MapGrpcService<CaRotationService>();
        app.MapGrpcService<OperatorRenewalService>();
        app.MapGrpcHealthChecksService();
        var storeText = store is Store.Postgres.PostgresStore pg ? pg.Display : dataDir.Database;
        app.Lifetime.ApplicationStarted.Register(() =>
            app.Logger.LogInformation("NodeFleet coordinator {Version} serving on {Listen} (data {DataDir}, store {Store}, CA {CaHash})",
                BuildInfo.Version, options.Listen, dataDir.Path, storeText, ca.Hash));
        return app;
    }

    private static ICoordinatorStore OpenStore(CoordinatorOptions options, DataDirectory dataDir, TimeProvider time)
    {
        // PostgreSQL keeps leases on the database's clock, so that coordinators' clocks may differ.
        if (options.UsesPostgres) return StoreSetting.OpenPostgres(options.Store);
        try
        {
            var lite = Store.LiteDb.LiteDbStore.Open(dataDir.Database, time);
            lite.StartCheckpoints();
            return lite;
        }
        catch (InvalidDataException e)
        {
            // Not a database, or damaged: the data directory's lock is held, so it is not another coordinator.
            throw new StartupException(e.Message);
        }
        catch (UnauthorizedAccessException)
        {
            throw new StartupException($"cannot open database {dataDir.Database}: {DataDirectory.PermissionDenied}");
        }
        catch (IOException e)
        {
            throw new StartupException($"cannot open database {dataDir.Database}: {e.Message} (is another coordinator running on this data directory?)");
        }
    }
}

/// <summary>Holds the data directory's lock for the life of the host.</summary>
public sealed class DataDirectoryLock(IDisposable handle) : IDisposable
{
    public void Dispose() => handle.Dispose();
}
