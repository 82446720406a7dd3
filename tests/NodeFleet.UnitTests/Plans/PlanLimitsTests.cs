using System.Text;
using NodeFleet.Plans;
using NodeFleet.Protocol.V1;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Plans.PlanTestData;

namespace NodeFleet.Tests.Plans;

/// <summary>Plans beyond <see cref="PlanLimits"/> are refused with file:line, before the costly checks.</summary>
public class PlanLimitsTests
{
    private const string Head = """
        apiVersion: nodefleet.io/v1
        kind: NodePlan
        metadata:
          name: big
        spec:
          kubernetesVersion: v1.31.2
          runtime:
            kind: containerd

        """; // lines 1-8; the next line written is line 9

    private static string Lines(int count, Func<int, string> line) =>
        string.Concat(Enumerable.Range(0, count).Select(i => line(i) + "\n"));

    [Fact]
    public void Images_up_to_the_limit_pass_and_one_more_is_refused_at_the_list()
    {
        string Plan(int n) => Head + "  images:\n" + Lines(n, i => $"    - registry.example/app-{i}:1.0");
        Assert.Empty(PlanLoader.Load(Plan(PlanLimits.MaxImages), "big.yaml").Errors);
        AssertErrors(PlanLoader.Load(Plan(PlanLimits.MaxImages + 1), "big.yaml"),
            (9, "spec.images", $"{PlanLimits.MaxImages + 1} images; a plan may list at most {PlanLimits.MaxImages}"));
        Assert.Equal($"big.yaml:9: spec.images: 501 images; a plan may list at most 500",
            PlanLoader.Load(Plan(PlanLimits.MaxImages + 1), "big.yaml").Errors[0].ToString());
    }

    [Fact]
    public void Artifacts_beyond_the_limit_are_refused_at_the_list()
    {
        var yaml = Head + "  artifacts:\n" + Lines(PlanLimits.MaxArtifacts + 1, i =>
            $"    - {{name: a{i}, url: 'https://dl.example/a{i}', sha256: {new string('a', 64)}, installPath: /usr/local/bin/a{i}}}");
        AssertErrors(PlanLoader.Load(yaml, "big.yaml"), (9, "spec.artifacts", "101 artifacts; a plan may list at most 100"));
    }

    [Fact]
    public void Kubelet_flags_beyond_the_limit_are_refused_at_the_map()
    {
        var yaml = Head + "  kubelet:\n    extraArgs:\n" + Lines(PlanLimits.MaxExtraArgs + 1, i => $"      flag-{i}: 'x'");
        AssertErrors(PlanLoader.Load(yaml, "big.yaml"), (10, "spec.kubelet.extraArgs", "201 flags; a plan may list at most 200"));
    }

    [Fact]
    public void Mirrored_registries_and_endpoints_per_registry_are_limited()
    {
        var registries = Head + "  registry:\n    mirrors:\n" + Lines(PlanLimits.MaxMirroredRegistries + 1, i => $"      r{i}.example: ['https://m.example']");
        AssertErrors(PlanLoader.Load(registries, "big.yaml"), (10, "spec.registry.mirrors", "51 mirrored registries; a plan may list at most 50"));

        var endpoints = Head + "  registry:\n    mirrors:\n      docker.io:\n" + Lines(PlanLimits.MaxMirrorEndpoints + 1, i => $"        - https://m{i}.example");
        AssertErrors(PlanLoader.Load(endpoints, "big.yaml"), (11, "spec.registry.mirrors[\"docker.io\"]", "11 endpoints; a plan may list at most 10 per registry"));
    }

    [Fact]
    public void A_phase_is_timed_or_skipped_once_so_neither_list_may_be_longer_than_the_phases()
    {
        var yaml = Head + "  timeouts:\n" + Lines(PlanPhases.All.Count + 1, i => $"    phase-{i}: 1m");
        AssertErrors(PlanLoader.Load(yaml, "big.yaml"), (9, "spec.timeouts", $"{PlanPhases.All.Count + 1} phases (one per phase)"));
    }

    [Fact]
    public void A_text_longer_than_the_limit_is_refused_at_its_line_without_quoting_it()
    {
        var image = "registry.example/" + new string('a', PlanLimits.MaxStringLength);
        var yaml = Head + "  images:\n    - registry.example/ok:1\n    - " + image + "\n";
        var result = PlanLoader.Load(yaml, "big.yaml");
        AssertErrors(result, (11, "spec.images[1]", $"{image.Length} characters long; a value in a plan may be at most {PlanLimits.MaxStringLength}"));
        Assert.DoesNotContain("aaaa", result.Errors[0].ToString());
    }

    [Fact]
    public void A_long_flag_value_is_located_at_its_flag()
    {
        var value = new string('v', PlanLimits.MaxStringLength + 1);
        var yaml = Head + "  kubelet:\n    extraArgs:\n      max-pods: '110'\n      node-labels: " + value + "\n";
        AssertErrors(PlanLoader.Load(yaml, "big.yaml"), (12, "spec.kubelet.extraArgs.node-labels", "4097 characters long"));
    }

    [Fact]
    public void A_map_key_longer_than_the_limit_is_shown_cut_in_the_path()
    {
        // YAML itself refuses keys over 1024 characters; a plan from the wire has no such limit.
        var flag = "f" + new string('x', PlanLimits.MaxStringLength);
        var plan = PlanLoader.Load(Head, "p.yaml").Plan!;
        plan.Spec.Kubelet = new KubeletSpec();
        plan.Spec.Kubelet.ExtraArgs[flag] = "y";
        var error = Assert.Single(PlanValidator.Validate(plan));
        Assert.Equal("spec.kubelet.extraArgs[\"f" + new string('x', 39) + "…\"]", error.Path);
        Assert.Equal($"{flag.Length} characters long; a value in a plan may be at most {PlanLimits.MaxStringLength}", error.Message);
    }

    [Fact]
    public void A_file_over_the_byte_limit_is_refused_before_it_is_parsed()
    {
        using var dir = new TempDir();
        // 200,000 images: about 5 MB of YAML. Refused by its size alone, so quickly and without building YAML nodes.
        var file = dir.File("huge.yaml");
        File.WriteAllText(file, Head + "  images:\n" + Lines(200_000, i => $"    - registry.example/app-{i}:1.0"));
        var size = new FileInfo(file).Length;
        var started = DateTime.UtcNow;
        var result = PlanLoader.LoadFile(file);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(3), "the size is checked first");
        var error = Assert.Single(result.Errors);
        Assert.Equal($"{file}: the file is {PlanLimits.Bytes(size)} ({size} bytes); a plan may be at most 1 MiB (1048576 bytes)", error.ToString());
        Assert.Null(result.Plan);

        // Just over the limit, in a comment that would parse: the size alone refuses it.
        File.WriteAllText(file, Head + "#" + new string('x', PlanLimits.MaxPlanBytes - Encoding.UTF8.GetByteCount(Head)) + "\n");
        Assert.Contains("a plan may be at most 1 MiB", Assert.Single(PlanLoader.LoadFile(file).Errors).Message);
    }

    [Fact]
    public async Task A_stream_over_the_byte_limit_is_refused_once_it_passes_it()
    {
        // A named pipe has no length to look at: it is read up to the limit and refused there, not read to its end.
        using var dir = new TempDir();
        var fifo = dir.File("plan.fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo])) mkfifo.WaitForExit();
        var writer = Task.Run(() =>
        {
            var chunk = Encoding.UTF8.GetBytes("# " + new string('x', 1022) + "\n");
            try
            {
                using var w = new FileStream(fifo, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
                for (var i = 0; i < 4096; i++) w.Write(chunk);
            }
            catch (IOException)
            {
                // Broken pipe: the reader stopped at the limit, which is the point.
            }
        });
        var result = PlanLoader.LoadFile(fifo);
        Assert.Equal($"{fifo}: cannot read plan: it is larger than {PlanLimits.MaxPlanBytes} bytes", Assert.Single(result.Errors).ToString());
        await writer.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_plan_from_the_wire_is_refused_by_its_encoded_size_and_nothing_else_is_checked()
    {
        var plan = new NodePlan
        {
            Metadata = new PlanMetadata { Name = "big" },
            Spec = new NodePlanSpec { KubernetesVersion = "not-a-version", Runtime = new RuntimeSpec { Kind = "containerd" } },
        };
        // 300 images of 4,000 characters: each within its limits, 1.2 MB together.
        for (var i = 0; i < 300; i++) plan.Spec.Images.Add($"registry.example/{i}/" + new string('a', 3980) + ":1");
        var error = Assert.Single(PlanValidator.Validate(plan));
        Assert.Equal("", error.Path);
        Assert.StartsWith("the plan's encoding is 1.1 MiB (1", error.Message);
        Assert.EndsWith("bytes); a plan may be at most 1 MiB (1048576 bytes)", error.Message);
    }
}
