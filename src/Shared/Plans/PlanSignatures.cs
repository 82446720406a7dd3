using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using NodeFleet.Config;
using NodeFleet.IO;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;

namespace NodeFleet.Plans;

/// <summary>
/// Signed plans: an operator signs a plan's content with a key the coordinator never holds, and agents that pin the
/// key's hash run only plans it signed, so a coordinator (or its database) in other hands cannot run code on nodes.
/// The signature covers <see cref="PlanCanonical.Bytes"/> of the plan with its defaults filled in (what the
/// coordinator sends and the agent runs), behind a fixed context string; not the name, generation or digest, which
/// the coordinator sets.
/// </summary>
public static class PlanSignatures
{
    public const string Algorithm = "ecdsa-p256-sha256";

    /// <summary>Keeps a plan signature from being taken for a signature over anything else the key might sign.</summary>
    private static readonly byte[] Context = Encoding.ASCII.GetBytes("nodefleet.io/v1 NodePlan spec\n");

    /// <summary>
    /// The bytes signed: the context string, then the canonical spec of the plan with defaults filled in and
    /// skipPhases in phase order (its order means nothing, and a rollout's preparation adds to it; see <see cref="VerifyError"/>).
    /// </summary>
    public static byte[] SignedBytes(NodePlan plan)
    {
        var filled = PlanDefaults.Apply(plan.Clone());
        var skipped = PlanPhases.All.Where(filled.Spec.SkipPhases.Contains).ToList();
        filled.Spec.SkipPhases.Clear();
        filled.Spec.SkipPhases.AddRange(skipped);
        return [.. Context, .. PlanCanonical.Bytes(filled)];
    }

    /// <summary>The signature of <paramref name="plan"/> by <paramref name="key"/> (a P-256 key).</summary>
    public static PlanSignature Sign(NodePlan plan, ECDsa key)
    {
        var spki = key.ExportSubjectPublicKeyInfo();
        return new PlanSignature
        {
            Signer = KeyHash.Of(spki),
            Algorithm = Algorithm,
            Signature = ByteString.CopyFrom(key.SignData(SignedBytes(plan), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)),
            PublicKey = ByteString.CopyFrom(spki),
        };
    }

    /// <summary>
    /// Null when <paramref name="signature"/> is well formed — known algorithm, a signer hash that is the hash of the
    /// key it carries, sizes of a P-256 signature — else why not. Says nothing of whether it matches the plan.
    /// </summary>
    public static string? ShapeError(PlanSignature signature)
    {
        if (signature.Algorithm != Algorithm) return $"algorithm '{Shown(signature.Algorithm)}' is not supported (use {Algorithm})";
        string signer;
        try { signer = KeyHash.Normalize(signature.Signer, "signer"); }
        catch (FormatException e) { return Shown(e.Message); }
        if (signature.PublicKey.Length is 0 or > 1024) return "publicKey must be a DER SubjectPublicKeyInfo of at most 1024 bytes";
        if (signature.Signature.Length != 64) return $"a {Algorithm} signature is 64 bytes, not {signature.Signature.Length}";
        if (KeyHash.Of(signature.PublicKey.Span) != signer) return $"publicKey is not the key of signer {signer}";
        return null;
    }

    /// <summary>
    /// Null when <paramref name="plan"/> may run on a node pinning <paramref name="pins"/> (none: any plan), else why not,
    /// naming the pins: it must carry a well-formed signature by one of them that matches its content. One exception: a
    /// rollout prepares its nodes by sending the plan with every disruptive phase added to skipPhases, so a plan that
    /// skips them all (and so runs only preflight, stage-artifacts and prepull-images of the signed plan) also passes
    /// when its signature matches it with some of those disruptive phases not skipped. Signing a plan allows running
    /// its preparation alone, never other phases or other content.
    /// </summary>
    public static string? VerifyError(NodePlan plan, IReadOnlyCollection<string> pins)
    {
        if (pins.Count == 0) return null;
        var expected = $"this node runs only plans signed by {string.Join(" or ", pins)}";
        var s = plan.Signature;
        if (s is null) return $"the plan is not signed; {expected} (`nodefleet plan sign`)";
        if (ShapeError(s) is { } shape) return $"the plan's signature is malformed: {shape}";
        var signer = KeyHash.Normalize(s.Signer, "signer");
        if (!pins.Contains(signer)) return $"the plan is signed by {signer}, a key this node does not pin; {expected}";
        if (!Verifies(plan, s) && !VerifiesAsPreparation(plan, s)) return $"the plan's signature by {signer} does not match its content: the plan was changed after it was signed";
        return null;
    }

    /// <summary>Whether <paramref name="signature"/> (well formed) is its key's signature over <paramref name="plan"/>.</summary>
    public static bool Verifies(NodePlan plan, PlanSignature signature)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(signature.PublicKey.Span, out _);
            if (key.KeySize != 256) return false;
            return key.VerifyData(SignedBytes(plan), signature.Signature.Span, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// Whether <paramref name="plan"/> skips every disruptive phase and is, but for some of those skips, the plan
    /// <paramref name="signature"/> signed. At most 2^7 candidates, and only for a signature that did not match as is.
    /// </summary>
    private static bool VerifiesAsPreparation(NodePlan plan, PlanSignature signature)
    {
        var skip = plan.Spec?.SkipPhases ?? [];
        if (!PlanPhases.Disruptive.All(skip.Contains)) return false;
        var disruptive = PlanPhases.Disruptive;
        var kept = skip.Where(p => !PlanPhases.IsDisruptive(p)).ToList();
        for (var mask = 0; mask < (1 << disruptive.Count) - 1; mask++)
        {
            var candidate = plan.Clone();
            candidate.Spec.SkipPhases.Clear();
            candidate.Spec.SkipPhases.AddRange(kept);
            for (var i = 0; i < disruptive.Count; i++)
            {
                if ((mask & (1 << i)) != 0) candidate.Spec.SkipPhases.Add(disruptive[i]);
            }
            if (Verifies(candidate, signature)) return true;
        }
        return false;
    }

    private static string Shown(string text) => text.Length > 100 ? text[..97] + "..." : text;
}

/// <summary>
/// A plan's signature beside its file: PLAN.yaml.sig, a small YAML mapping (signer, algorithm, signature and publicKey
/// in base64) that `nodefleet plan sign` writes and `plan apply`, `plan diff`, `rollout start` and `nodefleet-agent
/// apply` read with the plan.
/// </summary>
public static class PlanSignatureFile
{
    public const string Suffix = ".sig";

    /// <summary>Where the signature of the plan file <paramref name="planPath"/> is kept.</summary>
    public static string PathOf(string planPath) => planPath + Suffix;

    private static readonly ConfigFormat<Holder> Format = new(
    [
        ConfigField.Text<Holder>("signer", h => h.Value.Signer, (h, v) => h.Value.Signer = v),
        ConfigField.Text<Holder>("algorithm", h => h.Value.Algorithm, (h, v) => h.Value.Algorithm = v),
        Base64("signature", s => s.Signature, (s, v) => s.Signature = v),
        Base64("publicKey", s => s.PublicKey, (s, v) => s.PublicKey = v),
    ], AtomicFile.Public);

    /// <summary>Writes <paramref name="signature"/> beside <paramref name="planPath"/>; returns the file's path.</summary>
    public static string Save(string planPath, PlanSignature signature)
    {
        var path = PathOf(planPath);
        Format.Save(path, new Holder { Value = signature });
        return path;
    }

    /// <summary>
    /// The signature beside <paramref name="planPath"/>, or null when there is none. One that cannot be read, is
    /// malformed, or does not match <paramref name="plan"/> (the plan changed since it was signed) is a
    /// <see cref="ConfigException"/> naming the file.
    /// </summary>
    public static PlanSignature? Load(string planPath, NodePlan plan)
    {
        var path = PathOf(planPath);
        if (!File.Exists(path)) return null;
        var signature = Format.Load(path, "plan signature")?.Value.Value
            ?? throw new ConfigException($"{path}: empty; sign the plan again with `nodefleet plan sign {planPath} --key KEY`");
        if (PlanSignatures.ShapeError(signature) is { } shape) throw new ConfigException($"{path}: {shape}");
        if (!PlanSignatures.Verifies(plan, signature))
            throw new ConfigException($"{path} does not match {planPath}: the plan changed after it was signed; sign it again with `nodefleet plan sign {planPath} --key KEY`");
        return signature;
    }

    private static ConfigField<Holder> Base64(string key, Func<PlanSignature, ByteString> get, Action<PlanSignature, ByteString> set) =>
        new(key, h => get(h.Value).Length > 0 ? get(h.Value).ToBase64() : null, (h, text) =>
        {
            try { set(h.Value, ByteString.FromBase64(text)); }
            catch (FormatException) { return "expected base64"; }
            return null;
        });

    /// <summary>A new-able box for the generated message, which the format fills.</summary>
    private sealed class Holder
    {
        public PlanSignature Value { get; set; } = new();
    }
}
