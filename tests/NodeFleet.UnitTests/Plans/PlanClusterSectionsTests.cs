using NodeFleet.Cli.Output;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;
using static NodeFleet.Tests.Plans.PlanTestData;

namespace NodeFleet.Tests.Plans;

/// <summary>spec.drain and spec.kubeadm: read from YAML, checked with file and line, in the digest, shown by validate.</summary>
public class PlanClusterSectionsTests
{
    private const string Head = "apiVersion: nodefleet.io/v1\nkind: NodePlan\nmetadata:\n  name: p\nspec:\n  kubernetesVersion: v1.31.2\n  runtime:\n    kind: containerd\n";

    private static PlanLoadResult LoadSpec(string rest) => PlanLoader.Load(Head + rest, "p.yaml");

    [Fact]
    public void Reads_every_drain_and_kubeadm_field()
    {
        var result = Load("valid-kubeadm-join.yaml");
        Assert.Empty(result.Errors);
        var spec = result.Plan!.Spec;
        Assert.Equal(TimeSpan.FromMinutes(5), spec.Drain.Timeout.ToTimeSpan());
        Assert.Equal(30, spec.Drain.GracePeriodSeconds);
        Assert.True(spec.Drain.DeleteEmptyDirData);
        Assert.Equal("tier in (api, web),!canary", spec.Drain.PodSelector);
        Assert.Equal(TimeSpan.FromMinutes(2), spec.Drain.SkipWaitForDeleteTimeout.ToTimeSpan());
        Assert.Equal("delete", spec.Drain.OnTimeout);
        Assert.True(spec.Drain.Force);
        Assert.Equal("join", spec.Kubeadm.Mode);
        Assert.Equal("/etc/kubernetes/join.yaml", spec.Kubeadm.ConfigFile);
    }

    [Theory]
    [InlineData("45", 45)]
    [InlineData("45s", 45)]
    [InlineData("2m", 120)]
    [InlineData("0", 0)]
    public void Grace_period_is_seconds_or_a_duration(string written, int seconds) =>
        Assert.Equal(seconds, LoadSpec($"  drain:\n    gracePeriod: {written}\n").Plan!.Spec.Drain.GracePeriodSeconds);

    [Fact]
    public void An_unset_grace_period_is_the_pods_own()
    {
        var drain = LoadSpec("  drain:\n    timeout: 1m\n").Plan!.Spec.Drain;
        Assert.False(drain.HasGracePeriodSeconds);
        Assert.Null(drain.SkipWaitForDeleteTimeout);
    }

    [Fact]
    public void Bad_drain_fields_are_refused_at_their_lines() =>
        AssertErrors(LoadSpec("  drain:\n    timeout: 0\n    gracePeriod: -1\n    deleteEmptyDirData: yes\n    podSelector: \"=x\"\n" +
                              "    skipWaitForDeleteTimeout: soon\n    onTimeout: evict\n    force: \"true\"\n    gracePeriood: 3\n"),
            (10, "spec.drain.timeout", "must be positive"),
            (11, "spec.drain.gracePeriod", "must be 0 or more seconds (leave it out for the pod's own), got -1"),
            (12, "spec.drain.deleteEmptyDirData", "expected true or false, found 'yes'"),
            (13, "spec.drain.podSelector", "'=x' is not a label selector requirement"),
            (14, "spec.drain.skipWaitForDeleteTimeout", "'soon' is not a duration"),
            (15, "spec.drain.onTimeout", "unknown value 'evict': use fail"),
            (16, "spec.drain.force", "expected true or false"),
            (17, "spec.drain", "unknown field 'gracePeriood' (did you mean 'gracePeriod'?"));

    [Fact]
    public void Grace_period_in_fractions_of_a_second_is_refused() =>
        AssertErrors(LoadSpec("  drain:\n    gracePeriod: 1.5s\n"), (10, "spec.drain.gracePeriod", "'1.5s' is not a whole number of seconds"));

    [Fact]
    public void A_written_but_empty_pod_selector_is_refused() =>
        AssertErrors(LoadSpec("  drain:\n    podSelector: \"\"\n"), (10, "spec.drain.podSelector", "is empty (leave it out to drain every pod)"));

    [Theory]
    [InlineData("    mode: join\n", "spec.kubeadm.configFile", "required for mode join")]
    [InlineData("    mode: join\n    configFile: /root/join.yaml\n", "spec.kubeadm.configFile", "must be under /etc/kubernetes, /etc/nodefleet")]
    [InlineData("    mode: join\n    configFile: etc/kubernetes/join.yaml\n", "spec.kubeadm.configFile", "must be an absolute path")]
    [InlineData("    mode: join\n    configFile: /etc/kubernetes/../shadow\n", "spec.kubeadm.configFile", "'..'")]
    [InlineData("    mode: upgrade\n    configFile: /etc/kubernetes/join.yaml\n", "spec.kubeadm.configFile", "only for mode join")]
    [InlineData("    mode: reset\n", "spec.kubeadm.mode", "unknown mode 'reset': use upgrade or join")]
    [InlineData("    configFile: /etc/kubernetes/join.yaml\n", "spec.kubeadm.mode", "required: upgrade or join")]
    public void Bad_kubeadm_sections_are_refused_naming_the_field(string body, string path, string says)
    {
        var result = LoadSpec("  kubeadm:\n" + body);
        var error = Assert.Single(result.Errors);
        Assert.Equal((path, "p.yaml"), (error.Path, error.File));
        Assert.InRange(error.Line, 9, 11);
        Assert.Contains(says, error.Message);
    }

    [Fact]
    public void The_kubeadm_artifact_must_install_a_file_named_kubeadm()
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Kubeadm = new KubeadmSpec { Mode = "upgrade" };
        plan.Spec.Artifacts[0].Name = "kubeadm";
        var error = Assert.Single(PlanValidator.Validate(plan));
        Assert.Equal("spec.artifacts[0].installPath", error.Path);
        Assert.Contains("install it as a file named kubeadm", error.Message);
        plan.Spec.Artifacts[0].InstallPath = "/usr/local/bin/kubeadm";
        Assert.Empty(PlanValidator.Validate(plan));
        Assert.Equal("/usr/local/bin/kubeadm", PlanKubeadm.BinaryPath(plan.Spec));
    }

    [Fact]
    public void Upgrade_mode_requires_the_kubernetes_version()
    {
        var result = PlanLoader.Load("apiVersion: nodefleet.io/v1\nkind: NodePlan\nmetadata:\n  name: p\nspec:\n  runtime:\n    kind: containerd\n" +
                                     "  kubeadm:\n    mode: upgrade\n", "p.yaml");
        AssertErrors(result, (5, "spec.kubernetesVersion", "required, e.g. v1.31.2 (spec.kubeadm.mode upgrade"));
    }

    [Fact]
    public void The_digest_covers_both_sections()
    {
        var plan = Load("valid-kubeadm-join.yaml").Plan!;
        var digest = PlanCanonical.Digest(plan);
        var other = plan.Clone();
        other.Spec.Drain.Force = false;
        Assert.NotEqual(digest, PlanCanonical.Digest(other));
        other = plan.Clone();
        other.Spec.Kubeadm.ConfigFile = "/etc/kubernetes/join-2.yaml";
        Assert.NotEqual(digest, PlanCanonical.Digest(other));
    }

    [Fact]
    public void The_kubeadm_phase_runs_only_for_a_plan_with_spec_kubeadm()
    {
        Assert.DoesNotContain("kubeadm", PlanPhases.Selected(PlanValidatorTests.ValidPlan()));
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Kubeadm = new KubeadmSpec { Mode = "upgrade" };
        Assert.Equal("preflight,stage-artifacts,containerd-config,prepull-images,install-artifacts,kubeadm,kubelet-config,restart-services,verify",
            string.Join(",", PlanPhases.Selected(plan)));
        Assert.True(PlanPhases.IsDisruptive("kubeadm"));
        plan.Spec.SkipPhases.Add("kubeadm");
        plan.Spec.Timeouts["kubeadm"] = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMinutes(20));
        Assert.Empty(PlanValidator.Validate(plan));
        Assert.DoesNotContain("kubeadm", PlanPhases.Selected(plan));
    }

    [Theory]
    [InlineData("upgrade-apply", "upgrade", "", "kubeadm upgrade apply v1.31.2 --yes")]
    [InlineData("upgrade-node", "upgrade", "", "kubeadm upgrade node")]
    [InlineData("join", "join", "/etc/kubernetes/join.yaml", "kubeadm join --config /etc/kubernetes/join.yaml")]
    public void Each_action_is_one_kubeadm_command(string action, string mode, string file, string expected)
    {
        var spec = new NodePlanSpec { KubernetesVersion = "v1.31.2", Kubeadm = new KubeadmSpec { Mode = mode, ConfigFile = file } };
        Assert.Equal(expected, PlanKubeadm.CommandLine(PlanKubeadm.Arguments(action, spec, out _)!));
    }

    [Theory]
    [InlineData("join", "upgrade", "needs spec.kubeadm.mode join, the plan has mode 'upgrade'")]
    [InlineData("upgrade-node", "", "needs spec.kubeadm.mode upgrade, the plan has no spec.kubeadm")]
    [InlineData("reset", "upgrade", "unknown kubeadm action 'reset'")]
    public void An_action_that_does_not_fit_the_plan_is_refused(string action, string mode, string says)
    {
        var spec = new NodePlanSpec { KubernetesVersion = "v1.31.2", Kubeadm = mode.Length == 0 ? null : new KubeadmSpec { Mode = mode } };
        Assert.Null(PlanKubeadm.Arguments(action, spec, out var error));
        Assert.Contains(says, error);
    }

    [Fact]
    public void Validate_shows_the_drain_and_the_kubeadm_command()
    {
        var text = PlanViews.Valid(Load("valid-kubeadm-join.yaml").Plan!);
        Assert.Equal(
            "plan join-workers is valid (9 phases: preflight, stage-artifacts, containerd-config, prepull-images, install-artifacts, kubeadm, kubelet-config, restart-services, verify)\n" +
            "  drain: timeout 5m, grace period 30s, pods matching 'tier in (api, web),!canary', emptyDir data deleted, unmanaged pods evicted, " +
            "pods deleted over 2m ago not waited for, on timeout delete\n" +
            "  kubeadm: join (kubeadm join --config /etc/kubernetes/join.yaml)", text);
        var upgrade = Load("valid-kubeadm-join.yaml").Plan!;
        upgrade.Spec.Kubeadm = new KubeadmSpec { Mode = "upgrade" };
        upgrade.Spec.Drain = new DrainSpec();
        Assert.EndsWith(
            "  drain: timeout 15m, grace period: the pod's own, every pod, emptyDir data kept, unmanaged pods refused, every evicted pod waited for, on timeout fail\n" +
            "  kubeadm: upgrade (kubeadm upgrade node; kubeadm upgrade apply v1.31.2 --yes on the cluster's first control-plane node)",
            PlanViews.Valid(upgrade));
    }

    [Fact]
    public void A_malformed_duration_off_the_wire_is_an_error_not_an_exception()
    {
        var plan = PlanValidatorTests.ValidPlan();
        plan.Spec.Drain = new DrainSpec { Timeout = new Google.Protobuf.WellKnownTypes.Duration { Seconds = 5, Nanos = -3 } };
        var error = Assert.Single(PlanValidator.Validate(plan));
        Assert.Equal("spec.drain.timeout: not a valid duration", error.ToString());
    }
}
