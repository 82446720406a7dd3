using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NodeFleet.Cri.V1;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A CRI server on a unix socket, standing in for cri-o (not installable here) at the process boundary: it answers
/// Version, ImageStatus and PullImage and records the pulls. Named as a fake; containerd is the real CRI under test.
/// </summary>
public sealed class FakeCriServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly State _state;

    private FakeCriServer(WebApplication app, State state)
    {
        _app = app;
        _state = state;
    }

    public IReadOnlyList<string> Pulled => _state.Pulled.ToList();

    /// <summary>The credentials each pull carried ("user:password@server"), in order.</summary>
    public IReadOnlyList<string> Auths => _state.Auths.ToList();

    private sealed class State
    {
        public readonly ConcurrentQueue<string> Pulled = new();
        public readonly ConcurrentQueue<string> Auths = new();
        public readonly ConcurrentDictionary<string, bool> Present = new();
    }

    public static async Task<FakeCriServer> StartAsync(string socket)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        var state = new State();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(state);
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socket, o => o.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<Images>();
        app.MapGrpcService<Runtime>();
        await app.StartAsync();
        return new FakeCriServer(app, state);
    }

    private sealed class Images(State state) : ImageService.ImageServiceBase
    {
        public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context) =>
            Task.FromResult(state.Present.ContainsKey(request.Image.Image)
                ? new ImageStatusResponse { Image = new Image { Id = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(request.Image.Image))), Size = 1024, RepoTags = { request.Image.Image } } }
                : new ImageStatusResponse());

        public override Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context)
        {
            state.Pulled.Enqueue(request.Image.Image);
            state.Auths.Enqueue(request.Auth is null ? "" : $"{request.Auth.Username}:{request.Auth.Password}@{request.Auth.ServerAddress}");
            state.Present[request.Image.Image] = true;
            return Task.FromResult(new PullImageResponse { ImageRef = request.Image.Image });
        }
    }

    private sealed class Runtime : RuntimeService.RuntimeServiceBase
    {
        public override Task<VersionResponse> Version(VersionRequest request, ServerCallContext context) =>
            Task.FromResult(new VersionResponse { Version = "0.1.0", RuntimeName = "cri-o", RuntimeVersion = "1.31.0 (fake)", RuntimeApiVersion = "v1" });

        public override Task<RuntimeConfigResponse> RuntimeConfig(RuntimeConfigRequest request, ServerCallContext context) =>
            Task.FromResult(new RuntimeConfigResponse { Linux = new LinuxRuntimeConfiguration { CgroupDriver = CgroupDriver.Systemd } });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
