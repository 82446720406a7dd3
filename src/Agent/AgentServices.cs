using Microsoft.Extensions.Logging;
using NodeFleet.Agent.Execution;
using NodeFleet.Agent.Facts;
using NodeFleet.Agent.Host;

namespace NodeFleet.Agent;

/// <summary>
/// The agent's long-lived objects for one command, wired by hand (as the fleet simulator wires them). There are a
/// dozen of them and one way to build each, so the agent has no dependency-injection container: in the Native AOT
/// binary a container's reflection-based activation is code and memory that every idle node would carry
/// (BENCHMARKS.md, "Agent idle memory").
/// </summary>
public sealed class AgentServices : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(30) };
    private readonly HttpClient _artifactHttp;
    private readonly ImageServiceFactory _runtimes;

    /// <param name="root">Host root every host path is taken under.</param>
    /// <param name="systemctl">The systemctl binary the agent drives (a host path, not under the root).</param>
    /// <param name="settings">What steps need from the command line.</param>
    /// <param name="logs">Where the objects log.</param>
    public AgentServices(HostRoot root, string systemctl, AgentSettings settings, ILoggerFactory logs)
    {
        Root = root;
        // Downloads only: the kubelet's health check is on loopback by design.
        _artifactHttp = new HttpClient(ArtifactAddresses.Handler(() => Join.AgentConfig.Settings(root).AllowLocalArtifactAddresses))
        {
            Timeout = TimeSpan.FromMinutes(30),
        };
        Logs = logs;
        Commands = new CommandRunner(root);
        var files = new HostFiles(root);
        _runtimes = new ImageServiceFactory(root, files);
        Facts = new FactsCollector(files, _runtimes, Commands, logs.CreateLogger<FactsCollector>());
        Journal = new Journal(root);
        Outbox = new OutboxObserver(Journal);
        Executor = new PlanExecutor(Journal, files, new BackupStore(root), new Systemctl(systemctl),
            _runtimes, Commands, new PhaseCatalog(new HostNetwork(_http), settings, new HostNetwork(_artifactHttp)),
            new RunObservers([Outbox, new LogObserver(logs.CreateLogger<LogObserver>())]),
            Failpoints.FromEnvironment(), TimeProvider.System, logs.CreateLogger<PlanExecutor>(),
            () => Join.AgentConfig.Settings(root).PlanSigners);
    }

    public HostRoot Root { get; }
    public ILoggerFactory Logs { get; }
    public CommandRunner Commands { get; }
    public FactsCollector Facts { get; }
    public Journal Journal { get; }
    public OutboxObserver Outbox { get; }
    public PlanExecutor Executor { get; }

    public void Dispose()
    {
        Journal.Dispose();
        _runtimes.Dispose();
        _http.Dispose();
        _artifactHttp.Dispose();
    }
}
