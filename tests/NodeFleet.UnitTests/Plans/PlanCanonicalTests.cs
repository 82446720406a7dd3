using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;

namespace NodeFleet.Tests.Plans;

public class PlanCanonicalTests
{
    private static NodePlan WithMaps(bool reversed)
    {
        var plan = PlanValidatorTests.ValidPlan();
        var args = new[] { ("node-labels", "tier=web"), ("max-pods", "110"), ("v", "2") };
        var timeouts = new[] { ("verify", 5), ("prepull-images", 15) };
        var mirrors = new[] { "registry.k8s.io", "docker.io", "quay.io" };
        plan.Spec.Kubelet = new KubeletSpec();
        plan.Spec.Registry = new RegistrySpec();
        foreach (var (k, v) in reversed ? args.Reverse() : args) plan.Spec.Kubelet.ExtraArgs.Add(k, v);
        foreach (var (k, m) in reversed ? timeouts.Reverse() : timeouts) plan.Spec.Timeouts.Add(k, Duration.FromTimeSpan(TimeSpan.FromMinutes(m)));
        foreach (var host in reversed ? mirrors.Reverse() : mirrors)
            plan.Spec.Registry.Mirrors.Add(host, new MirrorEndpoints { Endpoints = { $"https://{host}.mirror.example" } });
        return plan;
    }

    [Fact]
    public void Map_order_does_not_change_the_digest()
    {
        // The plain encoding follows insertion order, so the two really differ before canonicalisation.
        Assert.NotEqual(WithMaps(false).Spec.ToByteArray(), WithMaps(true).Spec.ToByteArray());
        Assert.Equal(PlanCanonical.Digest(WithMaps(false)), PlanCanonical.Digest(WithMaps(true)));
    }

    [Fact]
    public void Canonical_bytes_are_the_plain_encoding_of_the_spec_with_maps_in_key_order()
    {
        var sorted = new NodePlanSpec
        {
            KubernetesVersion = "v1.31.2",
            Runtime = new RuntimeSpec { Kind = "containerd" },
            Artifacts = { PlanValidatorTests.ValidPlan().Spec.Artifacts },
            Kubelet = new KubeletSpec { ExtraArgs = { ["max-pods"] = "110", ["node-labels"] = "tier=web", ["v"] = "2" } },
            Registry = new RegistrySpec(),
            Timeouts =
            {
                ["prepull-images"] = Duration.FromTimeSpan(TimeSpan.FromMinutes(15)),
                ["verify"] = Duration.FromTimeSpan(TimeSpan.FromMinutes(5)),
            },
        };
        foreach (var host in new[] { "docker.io", "quay.io", "registry.k8s.io" })
            sorted.Registry.Mirrors.Add(host, new MirrorEndpoints { Endpoints = { $"https://{host}.mirror.example" } });
        Assert.Equal(sorted.ToByteArray(), PlanCanonical.Bytes(WithMaps(true)));
    }

    [Fact]
    public void Metadata_is_not_part_of_the_digest()
    {
        var a = WithMaps(false);
        var b = WithMaps(false);
        b.Metadata.Name = "other";
        b.Metadata.Generation = 7;
        b.Metadata.Digest = "x";
        Assert.Equal(PlanCanonical.Digest(a), PlanCanonical.Digest(b));
    }

    [Fact]
    public void Any_change_to_the_spec_changes_the_digest()
    {
        var a = WithMaps(false);
        var b = WithMaps(false);
        b.Spec.Kubelet.ExtraArgs["v"] = "3";
        Assert.NotEqual(PlanCanonical.Digest(a), PlanCanonical.Digest(b));
    }

    [Fact]
    public void Digest_does_not_modify_the_plan()
    {
        var plan = WithMaps(true);
        var before = plan.Clone();
        PlanCanonical.Digest(plan);
        Assert.Equal(before.Spec.Kubelet.ExtraArgs.Keys, plan.Spec.Kubelet.ExtraArgs.Keys);
    }

    [Fact]
    public void Digest_is_lowercase_hex_sha256_and_stable_across_versions()
    {
        // Pinned: the coordinator stores digests, so a change of encoding must be a deliberate one.
        var digest = PlanCanonical.Digest(WithMaps(false));
        Assert.Matches("^[0-9a-f]{64}$", digest);
        Assert.True(digest == PinnedDigest, $"digest changed: {digest}");
    }

    private const string PinnedDigest = "b8db7070aeafbac9dfb34786f851ca129c92fda6720c2683746f62a04e84d87e";
}
