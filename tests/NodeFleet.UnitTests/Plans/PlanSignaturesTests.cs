using System.Security.Cryptography;
using Google.Protobuf;
using NodeFleet.Config;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;
using NodeFleet.Security;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Plans;

/// <summary>Signed plans as values: what a signature covers, and what a pinning node refuses.</summary>
public sealed class PlanSignaturesTests : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _key.Dispose();
        _other.Dispose();
        _dir.Dispose();
    }

    private string Pin(ECDsa key) => KeyHash.Of(key.ExportSubjectPublicKeyInfo());

    private NodePlan Signed(ECDsa key)
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Signature = PlanSignatures.Sign(plan, key);
        return plan;
    }

    [Fact]
    public void A_plan_signed_by_the_pinned_key_passes()
    {
        var plan = Signed(_key);
        Assert.Equal(Pin(_key), plan.Signature.Signer);
        Assert.Equal("ecdsa-p256-sha256", plan.Signature.Algorithm);
        Assert.Null(PlanSignatures.VerifyError(plan, [Pin(_key)]));
        Assert.Empty(PlanValidator.Validate(plan));
    }

    [Fact]
    public void A_node_without_pins_takes_any_plan() =>
        Assert.Null(PlanSignatures.VerifyError(PlanValidatorTests.ValidPlan(), []));

    [Fact]
    public void An_unsigned_plan_is_refused_by_a_pinning_node() =>
        Assert.StartsWith("the plan is not signed; this node runs only plans signed by " + Pin(_key),
            PlanSignatures.VerifyError(PlanValidatorTests.ValidPlan(), [Pin(_key)]));

    [Fact]
    public void A_plan_signed_by_another_key_is_refused() =>
        Assert.StartsWith($"the plan is signed by {Pin(_other)}, a key this node does not pin",
            PlanSignatures.VerifyError(Signed(_other), [Pin(_key)]));

    [Fact]
    public void A_changed_spec_breaks_the_signature()
    {
        var plan = Signed(_key);
        plan.Spec.Artifacts[0].Url = "https://evil.example/kubelet";
        Assert.Equal($"the plan's signature by {Pin(_key)} does not match its content: the plan was changed after it was signed",
            PlanSignatures.VerifyError(plan, [Pin(_key)]));
    }

    [Fact]
    public void A_signature_with_a_swapped_public_key_is_malformed()
    {
        var plan = Signed(_key);
        plan.Signature.PublicKey = ByteString.CopyFrom(_other.ExportSubjectPublicKeyInfo());
        Assert.Contains("is not the key of signer", PlanSignatures.VerifyError(plan, [Pin(_key)]));
        Assert.Contains(PlanValidator.Validate(plan), e => e.Path == "signature" && e.Message.Contains("is not the key of signer"));
    }

    [Fact]
    public void What_the_coordinator_sets_is_not_signed()
    {
        var plan = Signed(_key);
        // The coordinator sets generation and digest and fills in defaults before sending: none of it breaks the signature.
        plan.Metadata.Generation = 7;
        plan.Metadata.Digest = "x";
        PlanDefaults.Apply(plan);
        Assert.Null(PlanSignatures.VerifyError(plan, [Pin(_key)]));
        var wire = NodePlan.Parser.ParseFrom(plan.ToByteArray());
        Assert.Null(PlanSignatures.VerifyError(wire, [Pin(_key)]));
    }

    [Fact]
    public void A_rollouts_preparation_of_a_signed_plan_passes_and_other_skips_do_not()
    {
        var plan = Signed(_key);
        plan.Spec.SkipPhases.Add(PlanPhases.Verify);
        plan.Signature = PlanSignatures.Sign(plan, _key);

        // What the rollout controller sends for the prepare stage: every disruptive phase skipped, appended.
        var prepare = plan.Clone();
        foreach (var phase in PlanPhases.Disruptive.Where(p => !prepare.Spec.SkipPhases.Contains(p))) prepare.Spec.SkipPhases.Add(phase);
        Assert.Null(PlanSignatures.VerifyError(prepare, [Pin(_key)]));

        // Skipping only some disruptive phases, or un-skipping one the operator skipped, is other content.
        var partial = plan.Clone();
        partial.Spec.SkipPhases.Add(PlanPhases.KubeletConfig);
        Assert.Contains("does not match its content", PlanSignatures.VerifyError(partial, [Pin(_key)]));
        var unskipped = plan.Clone();
        unskipped.Spec.SkipPhases.Clear();
        Assert.Contains("does not match its content", PlanSignatures.VerifyError(unskipped, [Pin(_key)]));

        // The preparation of a plan with other content does not pass either.
        prepare.Spec.Artifacts[0].Url = "https://evil.example/kubelet";
        Assert.Contains("does not match its content", PlanSignatures.VerifyError(prepare, [Pin(_key)]));
    }

    [Fact]
    public void The_sidecar_file_round_trips_and_a_stale_one_is_refused_with_its_name()
    {
        var planPath = _dir.File("plan.yaml");
        var plan = PlanValidatorTests.ValidPlan();
        var written = PlanSignatureFile.Save(planPath, PlanSignatures.Sign(plan, _key));
        Assert.Equal(planPath + ".sig", written);

        var loaded = PlanSignatureFile.Load(planPath, plan);
        Assert.NotNull(loaded);
        Assert.Equal(Pin(_key), loaded.Signer);

        plan.Spec.KubernetesVersion = "v1.31.3";
        var error = Assert.Throws<ConfigException>(() => PlanSignatureFile.Load(planPath, plan));
        Assert.Contains($"{written} does not match {planPath}: the plan changed after it was signed", error.Message);
        Assert.Null(PlanSignatureFile.Load(_dir.File("unsigned.yaml"), plan));
    }
}
