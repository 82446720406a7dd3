using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace NodeFleet.IntegrationTests.Infrastructure;

/// <summary>
/// A real HTTP server on loopback serving artifacts (binaries to stage), optionally slowly, and a kubelet-style
/// /healthz — the stand-in for a kubelet, which cannot run here.
/// </summary>
public sealed class HttpFiles : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, (byte[] Body, TimeSpan Delay)> _files = new();

    private HttpFiles(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }
    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";
    public string HealthzUrl => Url("/healthz");
    public int Requests;

    public static async Task<HttpFiles> StartAsync()
    {
        var port = Proc.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var server = new HttpFiles(app, port);
        app.MapGet("/healthz", () => "ok");
        app.MapGet("/files/{**name}", async (string name, HttpContext ctx) =>
        {
            Interlocked.Increment(ref server.Requests);
            if (!server._files.TryGetValue(name, out var f)) return Results.NotFound();
            if (f.Delay > TimeSpan.Zero) await Task.Delay(f.Delay, ctx.RequestAborted);
            return Results.Bytes(f.Body, "application/octet-stream");
        });
        await app.StartAsync();
        return server;
    }

    /// <summary>Serves <paramref name="body"/> at /files/NAME and returns its URL and sha256.</summary>
    public (string Url, string Sha256) Add(string name, byte[] body, TimeSpan delay = default)
    {
        _files[name] = (body, delay);
        return (Url($"/files/{name}"), Convert.ToHexStringLower(SHA256.HashData(body)));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
