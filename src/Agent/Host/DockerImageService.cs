using System.Net;
using System.Text;
using System.Text.Json;
using NodeFleet.Plans;

namespace NodeFleet.Agent.Host;

/// <summary>
/// Docker Engine API over its unix socket. Docker's registry-mirrors apply to docker.io only, and only once the daemon
/// has re-read daemon.json, so an image of any registry with a plan mirror is pulled from the mirror itself and tagged
/// with the name the kubelet expects: the pull works before docker-config has run (a rollout's preparation) as after.
/// The HTTP client is shared (<see cref="RuntimeConnections"/>), not owned.
/// </summary>
public sealed class DockerImageService(HttpClient http, string socketPath, MirrorMap mirrors, Func<RegistryCredentials> credentials) : IImageService
{
    private readonly HttpClient _http = http;

    public string Describe => $"Docker Engine API at unix://{socketPath}";

    public async Task<bool> IsPresentAsync(string image, CancellationToken ct)
    {
        using var r = await _http.GetAsync($"/images/{Uri.EscapeDataString(DockerName(image))}/json", ct);
        if (r.StatusCode == HttpStatusCode.NotFound) return false;
        r.EnsureSuccessStatusCode();
        return true;
    }

    public async Task<ulong> PullAsync(string image, CancellationToken ct)
    {
        var reference = ImageReference.Parse(image);
        var source = reference;
        if (mirrors.ByRegistry.TryGetValue(reference.Registry, out var endpoints) && endpoints.Count > 0)
        {
            // The first mirror is used; docker has no per-registry fallback list.
            var host = new Uri(endpoints[0]).Authority;
            source = ImageReference.Parse($"{host}/{reference.Repository}{(reference.Tag is null ? "" : ":" + reference.Tag)}{(reference.Digest is null ? "" : "@" + reference.Digest)}");
        }
        var from = source.Registry == ImageReference.DockerHub ? $"docker.io/{source.Repository}" : $"{source.Registry}/{source.Repository}";
        var query = $"/images/create?fromImage={Uri.EscapeDataString(from)}&tag={Uri.EscapeDataString(source.Digest ?? source.Tag ?? ImageReference.DefaultTag)}";
        using var request = new HttpRequestMessage(HttpMethod.Post, query);
        if (Creds().For(source.Registry) is { } c)
        {
            // A JsonObject rather than the reflection-based serializer, which Native AOT (the agent's build) cannot run.
            var auth = new System.Text.Json.Nodes.JsonObject { ["username"] = c.User, ["password"] = c.Password, ["serveraddress"] = source.Registry }.ToJsonString();
            request.Headers.Add("X-Registry-Auth", Convert.ToBase64String(Encoding.UTF8.GetBytes(auth)).Replace('+', '-').Replace('/', '_'));
        }
        var via = source == reference ? "" : $" via mirror {source.Registry}";
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var body = response.Content is null ? "" : await ReadProgressAsync(response, ct);
        if (!response.IsSuccessStatusCode)
        {
            var transient = (int)response.StatusCode >= 500 && PullErrors.TextIsTransient(body + " 503 Service Unavailable");
            throw new ImagePullException(image, $"from {reference.Registry}{via} ({Describe}): HTTP {(int)response.StatusCode}: {ErrorOf(body)}", transient: transient);
        }
        if (ErrorOf(body) is { Length: > 0 } streamError && body.Contains("\"error\"", StringComparison.Ordinal))
            throw new ImagePullException(image, $"from {reference.Registry}{via} ({Describe}): {streamError}", transient: PullErrors.TextIsTransient(streamError));
        if (source != reference)
        {
            var target = reference.Registry == ImageReference.DockerHub ? $"docker.io/{reference.Repository}" : $"{reference.Registry}/{reference.Repository}";
            using var tag = await _http.PostAsync(
                $"/images/{Uri.EscapeDataString(DockerName(source.ToString()))}/tag?repo={Uri.EscapeDataString(target)}&tag={Uri.EscapeDataString(reference.Tag ?? ImageReference.DefaultTag)}",
                null, ct);
            if (!tag.IsSuccessStatusCode)
                throw new ImagePullException(image, $"tagging {source} as {image} failed: HTTP {(int)tag.StatusCode}: {await tag.Content.ReadAsStringAsync(ct)}");
        }
        using var inspect = await _http.GetAsync($"/images/{Uri.EscapeDataString(DockerName(image))}/json", ct);
        if (!inspect.IsSuccessStatusCode) return 0;
        using var doc = JsonDocument.Parse(await inspect.Content.ReadAsStringAsync(ct));
        return doc.RootElement.TryGetProperty("Size", out var size) && size.TryGetUInt64(out var s) ? s : 0;
    }

    public async Task<string?> ProbeAsync(CancellationToken ct)
    {
        if (!File.Exists(socketPath)) return $"{Describe}: the socket does not exist (is dockerd running?)";
        try
        {
            using var r = await _http.GetAsync("/_ping", ct);
            return r.IsSuccessStatusCode ? null : $"{Describe} answered HTTP {(int)r.StatusCode}";
        }
        catch (HttpRequestException e)
        {
            return $"{Describe} does not answer: {e.Message}";
        }
    }

    public async Task<RuntimeInfo> InfoAsync(CancellationToken ct)
    {
        using var version = JsonDocument.Parse(await _http.GetStringAsync("/version", ct));
        using var info = JsonDocument.Parse(await _http.GetStringAsync("/info", ct));
        return new(version.RootElement.TryGetProperty("Version", out var v) ? v.GetString() ?? "" : "",
            info.RootElement.TryGetProperty("CgroupDriver", out var d) ? d.GetString() ?? "" : "");
    }

    /// <summary>Docker's own short form: docker.io/library/x → x, docker.io/y/x → y/x.</summary>
    private static string DockerName(string image)
    {
        var r = ImageReference.Parse(image);
        return r.ToFamiliarString();
    }

    /// <summary>The pull progress stream: one JSON object per line; an "error" member means failure even with HTTP 200.</summary>
    private static async Task<string> ReadProgressAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var sb = new StringBuilder();
        using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(ct) is { } line) sb.AppendLine(line);
        return sb.ToString();
    }

    private static string ErrorOf(string body)
    {
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    if (doc.RootElement.TryGetProperty("error", out var e)) return e.GetString() ?? "";
                    if (doc.RootElement.TryGetProperty("message", out var m)) return m.GetString() ?? "";
                }
            }
            catch (JsonException)
            {
                return line.Trim();
            }
        }
        return body.Trim();
    }

    private RegistryCredentials Creds()
    {
        try { return credentials(); }
        catch (InvalidOperationException e) { throw new ImagePullException("(any image)", e.Message); }
    }
}
