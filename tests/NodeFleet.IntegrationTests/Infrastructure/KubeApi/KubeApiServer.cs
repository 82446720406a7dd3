using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace NodeFleet.IntegrationTests.Infrastructure.KubeApi;

/// <summary>
/// A Kubernetes API test server: a stand-in for kube-apiserver, which cannot run here (no kube-apiserver, etcd or
/// kubelet is packaged for Debian 12), faked at the process boundary and proven faithful by the real kubectl
/// (KubeApiServerFidelityTests). HTTPS on loopback with a self-signed certificate, bearer-token auth (401 without
/// it), JSON as kube-apiserver writes it. It serves discovery (/version, /api, /apis, /api/v1, /apis/apps/v1,
/// /apis/policy/v1); Nodes (get, list, merge and strategic-merge patch, the status subresource); Pods (list in all
/// namespaces or one, with labelSelector and fieldSelector, get, delete with a grace period, Terminating pods);
/// policy/v1 Eviction with PodDisruptionBudget semantics; PodDisruptionBudgets, DaemonSets and ReplicaSets (get,
/// list). Its stand-in kubelet removes a deleted pod after the pod's termination delay; its stand-in ReplicaSet
/// controller recreates a removed pod elsewhere. Not served: watch, create/update/delete of other kinds, protobuf.
/// Every change is kept in an ordered <see cref="Record"/> for tests to assert on.
/// </summary>
public sealed partial class KubeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly KubeStore _store;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly ConcurrentQueue<string> _unserved = new();

    /// <summary>The version /version reports, e.g. "1.33.1"; kubectl's dispatcher picks its binary by it.</summary>
    public string Version { get; }
    public string Url { get; }
    public string Token { get; }
    /// <summary>The self-signed serving certificate (also its own CA), PEM.</summary>
    public string CaPem { get; }

    private KubeApiServer(WebApplication app, KubeStore store, string version, string url, string token, string caPem)
    {
        (_app, _store, Version, Url, Token, CaPem) = (app, store, version, url, token, caPem);
    }

    public static async Task<KubeApiServer> StartAsync(string version = "1.31.4")
    {
        var port = Proc.FreePort();
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        using var certificate = SelfSigned();
        var store = new KubeStore();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var serving = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.UseHttps(serving)));
        var app = builder.Build();
        var server = new KubeApiServer(app, store, version, $"https://127.0.0.1:{port}", token, certificate.ExportCertificatePem());
        app.Run(server.HandleAsync);
        await app.StartAsync();
        return server;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=kube-apiserver-test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        // Its own CA as well, so a client can trust exactly this certificate as the cluster's CA data.
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>Writes a kubeconfig for this server (CA data and bearer token) and returns its path.</summary>
    public string WriteKubeconfig(string path, bool insecureSkipTlsVerify = false)
    {
        var cluster = insecureSkipTlsVerify
            ? "    insecure-skip-tls-verify: true"
            : $"    certificate-authority-data: {Convert.ToBase64String(Encoding.ASCII.GetBytes(CaPem))}";
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster:
                server: {Url}
            {cluster}
            users:
            - name: test
              user:
                token: {Token}
            contexts:
            - name: test
              context:
                cluster: test
                user: test
            current-context: test

            """);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>Every request served, as "METHOD path?query", in order (the API calls a client made).</summary>
    public IReadOnlyList<string> Requests => _requests.ToList();

    /// <summary>
    /// Requests for a path or verb this server does not serve (answered 404 or 405 as kube-apiserver would for an
    /// unknown path): a client asking for one needs a part of the API the stand-in lacks.
    /// </summary>
    public IReadOnlyList<string> Unserved => _unserved.ToList();

    /// <summary>The ordered record of every change: patches, evictions allowed and refused, deletes, pods gone.</summary>
    public IReadOnlyList<KubeApiEvent> Record => _store.Record;

    /// <summary>The most pods the budget ("namespace/name") had unavailable at any point of the record.</summary>
    public int MaxUnavailable(string budget) =>
        Record.Select(e => e.UnavailableByBudget.GetValueOrDefault(budget)).DefaultIfEmpty(0).Max();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        _requests.Enqueue($"{request.Method} {request.Path}{request.QueryString}");
        var auth = request.Headers.Authorization.ToString();
        if (auth != "Bearer " + Token)
        {
            await WriteAsync(context, 401, KubeJson.Status(401, "Unauthorized", "Unauthorized"));
            return;
        }
        var (code, body) = await RouteAsync(context);
        if (code == 405 || ReferenceEquals(body, PathNotFound))
            _unserved.Enqueue($"{request.Method} {request.Path}{request.QueryString} {code}");
        await WriteAsync(context, code, body);
    }

    private static async Task WriteAsync(HttpContext context, int code, JsonObject body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(KubeJson.Options));
    }
}
