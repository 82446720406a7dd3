using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace NodeFleet.Security;

/// <summary>Compact JWS with HS256 (RFC 7515), the shape kubeadm uses to sign its cluster-info.</summary>
public static class Jws
{
    public static string SignHs256(string payload, string keyId, byte[] key)
    {
        var header = $"{{\"alg\":\"HS256\",\"kid\":{JsonSerializer.Serialize(keyId, JwsJsonContext.Default.String)}}}";
        var signingInput = $"{Base64Url(Encoding.UTF8.GetBytes(header))}.{Base64Url(Encoding.UTF8.GetBytes(payload))}";
        var signature = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(signingInput));
        return $"{signingInput}.{Base64Url(signature)}";
    }

    /// <summary>Verifies an HS256 JWS and that its payload is exactly <paramref name="expectedPayload"/>.</summary>
    public static bool VerifyHs256(string jws, string expectedPayload, string expectedKeyId, byte[] key)
    {
        var parts = jws.Split('.');
        if (parts.Length != 3) return false;
        try
        {
            using var header = JsonDocument.Parse(FromBase64Url(parts[0]));
            if (!header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "HS256") return false;
            if (!header.RootElement.TryGetProperty("kid", out var kid) || kid.GetString() != expectedKeyId) return false;
            var payload = FromBase64Url(parts[1]);
            var expected = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"));
            var actual = FromBase64Url(parts[2]);
            return CryptographicOperations.FixedTimeEquals(expected, actual)
                && CryptographicOperations.FixedTimeEquals(payload, Encoding.UTF8.GetBytes(expectedPayload));
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            return false;
        }
    }

    private static string Base64Url(byte[] data) =>
        Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string s)
    {
        var b = s.Replace('-', '+').Replace('_', '/');
        b += (b.Length % 4) switch { 2 => "==", 3 => "=", 0 => "", _ => throw new FormatException("bad base64url") };
        return Convert.FromBase64String(b);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class JwsJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
