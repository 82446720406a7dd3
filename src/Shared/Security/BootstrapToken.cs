using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace NodeFleet.Security;

/// <summary>A bootstrap token "id.secret" with kubeadm's format: [a-z0-9]{6}.[a-z0-9]{16}.</summary>
public sealed partial record BootstrapToken(string Id, string Secret)
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    [GeneratedRegex("^[a-z0-9]{6}\\z")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^([a-z0-9]{6})\\.([a-z0-9]{16})\\z")]
    private static partial Regex TokenPattern();

    public override string ToString() => $"{Id}.{Secret}";

    public static bool IsValidId(string id) => IdPattern().IsMatch(id);

    /// <summary>Parses a token, failing with a message that names the expected format.</summary>
    public static BootstrapToken Parse(string? text)
    {
        if (!TryParse(text, out var token))
        {
            throw new FormatException(
                "malformed bootstrap token: expected the format [a-z0-9]{6}.[a-z0-9]{16}, e.g. abcdef.0123456789abcdef");
        }
        return token;
    }

    public static bool TryParse(string? text, out BootstrapToken token)
    {
        token = null!;
        if (text is null) return false;
        var m = TokenPattern().Match(text);
        if (!m.Success) return false;
        token = new BootstrapToken(m.Groups[1].Value, m.Groups[2].Value);
        return true;
    }

    public static BootstrapToken Generate() => new(RandomString(6), RandomString(16));

    private static string RandomString(int length) =>
        string.Create(length, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        });

    /// <summary>What the coordinator stores to recognise the secret: SHA-256 over "id.secret", hex.</summary>
    public string SecretHash() => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(ToString())));

    /// <summary>
    /// The HMAC key for the discovery JWS, derived from the secret (HKDF-SHA256) so the coordinator
    /// never has to store the secret itself.
    /// </summary>
    public byte[] DiscoveryKey() =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.ASCII.GetBytes(Secret), 32,
            salt: Encoding.ASCII.GetBytes(Id), info: "nodefleet discovery v1"u8.ToArray());
}
