using Google.Protobuf.WellKnownTypes;
using NodeFleet.Config;
using NodeFleet.IO;
using NodeFleet.Protocol.V1;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace NodeFleet.Plans;

/// <summary>
/// Reads a plan authored as YAML (apiVersion nodefleet.io/v1, kind NodePlan) into the wire model, strictly: unknown
/// fields and wrong shapes are errors with their file and line, and every error is reported, not just the first.
/// </summary>
public static class PlanLoader
{
    public const string ApiVersion = "nodefleet.io/v1";
    public const string Kind = "NodePlan";

    private static readonly string[] RootFields = ["apiVersion", "kind", "metadata", "spec"];
    private static readonly string[] MetadataFields = ["name"];
    private static readonly string[] SpecFields =
        ["kubernetesVersion", "runtime", "registry", "images", "artifacts", "kubelet", "timeouts", "skipPhases", "drain", "kubeadm"];
    private static readonly string[] RuntimeFields = ["kind", "endpoint", "cgroupDriver", "sandboxImage"];
    private static readonly string[] RegistryFields = ["imageRepository", "mirrors", "credentialsFile"];
    private static readonly string[] ArtifactFields = ["name", "url", "sha256", "installPath", "mode"];
    private static readonly string[] KubeletFields = ["dropInName", "extraArgs"];
    private static readonly string[] DrainFields =
        ["timeout", "gracePeriod", "deleteEmptyDirData", "podSelector", "skipWaitForDeleteTimeout", "onTimeout", "force"];
    private static readonly string[] KubeadmFields = ["mode", "configFile"];

    /// <summary>
    /// Reads and checks a plan file: <see cref="Load"/> of its text, errors naming <paramref name="path"/>. A file
    /// larger than <see cref="PlanLimits.MaxPlanBytes"/> is refused before it is read, a stream (a pipe) once it
    /// has passed the limit.
    /// </summary>
    public static PlanLoadResult LoadFile(string path)
    {
        var source = new PlanSourceMap(path);
        if (File.Exists(path) && new FileInfo(path).Length is var size && size > PlanLimits.MaxPlanBytes)
            return new PlanLoadResult(null, [new PlanError(path, 0, 0, "", PlanLimits.TooLarge(size, "the file"))], source);
        if (!TextFiles.TryRead(path, out var text, out var reason, PlanLimits.MaxPlanBytes))
            return new PlanLoadResult(null, [new PlanError(path, 0, 0, "", $"cannot read plan: {reason}")], source);
        return Load(text, path);
    }

    /// <summary>
    /// Parses and validates (<see cref="PlanValidator"/>): the result has a plan only when both pass, and every
    /// error of both, in line order. Defaults are not applied (see <see cref="PlanDefaults"/>).
    /// </summary>
    public static PlanLoadResult Load(string yaml, string file = "plan.yaml")
    {
        var parsed = Parse(yaml, file);
        if (parsed.Partial is null) return parsed;
        var errors = parsed.Errors.Concat(PlanValidator.Validate(parsed.Partial, parsed.Source))
            .OrderBy(e => e.Line).ThenBy(e => e.Column).ToList();
        return new PlanLoadResult(parsed.Partial, errors, parsed.Source);
    }

    /// <summary>Only the structure: YAML syntax, apiVersion and kind, known fields, shapes and durations.</summary>
    public static PlanLoadResult Parse(string yaml, string file = "plan.yaml")
    {
        var source = new PlanSourceMap(file);
        // Parsing is what an oversized plan would make costly: its size is checked first.
        var bytes = System.Text.Encoding.UTF8.GetByteCount(yaml);
        if (bytes > PlanLimits.MaxPlanBytes) return Failed(source, 0, 0, "", PlanLimits.TooLarge(bytes, "the plan"));
        YamlNode root;
        var parser = new Parser(new StringReader(yaml));
        try
        {
            var stream = new YamlStream();
            stream.Load(parser);
            if (stream.Documents.Count == 0)
                return Failed(source, 0, 0, "", $"empty plan: expected apiVersion: {ApiVersion}, kind: {Kind}");
            if (stream.Documents.Count > 1)
            {
                var second = stream.Documents[1].RootNode.Start;
                return Failed(source, second.Line, second.Column, "", "expected one plan, found several YAML documents");
            }
            root = stream.Documents[0].RootNode;
        }
        catch (YamlException e)
        {
            // Syntax errors (and duplicate keys) stop the parse: nothing after them can be trusted.
            return Failed(source, e.Start.Line, e.Start.Column, "", e.InnerException?.Message ?? e.Message);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way on some malformed input (an unclosed flow sequence before a new
            // key): report it where the parser had got to.
            var at = parser.Current?.End ?? Mark.Empty;
            return Failed(source, at.Line, at.Column, "", "not valid YAML here (an unclosed [ or {, or a misplaced ':'?)");
        }

        source.Record("", root.Start.Line, root.Start.Column);
        if (root is not YamlMappingNode)
            return Failed(source, root.Start.Line, root.Start.Column, "",
                $"expected a plan (a mapping with apiVersion: {ApiVersion}, kind: {Kind})");
        var reader = new YamlFieldReader(source);
        var plan = ReadRoot(reader, root);
        return new PlanLoadResult(plan, reader.Errors, source);
    }

    private static PlanLoadResult Failed(PlanSourceMap source, long line, long column, string path, string message) =>
        new(null, [new PlanError(source.File, (int)line, (int)column, path, message)], source);

    private static NodePlan ReadRoot(YamlFieldReader r, YamlNode root)
    {
        var plan = new NodePlan { Metadata = new PlanMetadata(), Spec = new NodePlanSpec() };
        string? apiVersion = null, kind = null;
        foreach (var (key, value, path) in r.Fields(root, "", RootFields))
        {
            switch (key)
            {
                case "apiVersion":
                    apiVersion = r.String(value, path);
                    if (apiVersion != ApiVersion) r.Error(value, path, $"unsupported apiVersion '{apiVersion}': expected {ApiVersion}");
                    break;
                case "kind":
                    kind = r.String(value, path);
                    if (kind != Kind) r.Error(value, path, $"unsupported kind '{kind}': expected {Kind}");
                    break;
                case "metadata":
                    foreach (var (_, v, p) in r.Fields(value, path, MetadataFields)) plan.Metadata.Name = r.String(v, p);
                    break;
                case "spec":
                    ReadSpec(r, value, path, plan.Spec);
                    break;
            }
        }
        if (apiVersion is null) r.Error(root, "apiVersion", $"required: {ApiVersion}");
        if (kind is null) r.Error(root, "kind", $"required: {Kind}");
        return plan;
    }

    private static void ReadSpec(YamlFieldReader r, YamlNode node, string specPath, NodePlanSpec spec)
    {
        foreach (var (key, value, path) in r.Fields(node, specPath, SpecFields))
        {
            switch (key)
            {
                case "kubernetesVersion":
                    spec.KubernetesVersion = r.String(value, path);
                    break;
                case "runtime":
                    spec.Runtime = new RuntimeSpec();
                    ReadRuntime(r, value, path, spec.Runtime);
                    break;
                case "registry":
                    spec.Registry = new RegistrySpec();
                    ReadRegistry(r, value, path, spec.Registry);
                    break;
                case "images":
                    spec.Images.AddRange(r.Strings(value, path));
                    break;
                case "artifacts":
                    foreach (var (item, itemPath) in r.Items(value, path)) spec.Artifacts.Add(ReadArtifact(r, item, itemPath));
                    break;
                case "kubelet":
                    spec.Kubelet = new KubeletSpec();
                    ReadKubelet(r, value, path, spec.Kubelet);
                    break;
                case "timeouts":
                    foreach (var (phase, v, p) in r.MapEntries(value, path))
                    {
                        if (ReadDuration(r, v, p) is { } d) spec.Timeouts[phase] = d;
                    }
                    break;
                case "skipPhases":
                    spec.SkipPhases.AddRange(r.Strings(value, path));
                    break;
                case "drain":
                    spec.Drain = new DrainSpec();
                    ReadDrain(r, value, path, spec.Drain);
                    break;
                case "kubeadm":
                    spec.Kubeadm = new KubeadmSpec();
                    foreach (var (k, v, p) in r.Fields(value, path, KubeadmFields))
                    {
                        if (k == "mode") spec.Kubeadm.Mode = r.String(v, p);
                        else spec.Kubeadm.ConfigFile = r.String(v, p);
                    }
                    break;
            }
        }
    }

    private static void ReadRuntime(YamlFieldReader r, YamlNode node, string runtimePath, RuntimeSpec runtime)
    {
        foreach (var (key, value, path) in r.Fields(node, runtimePath, RuntimeFields))
        {
            var text = r.String(value, path);
            switch (key)
            {
                case "kind": runtime.Kind = text; break;
                case "endpoint": runtime.Endpoint = text; break;
                case "cgroupDriver": runtime.CgroupDriver = text; break;
                case "sandboxImage": runtime.SandboxImage = text; break;
            }
        }
    }

    private static void ReadRegistry(YamlFieldReader r, YamlNode node, string registryPath, RegistrySpec registry)
    {
        foreach (var (key, value, path) in r.Fields(node, registryPath, RegistryFields))
        {
            switch (key)
            {
                case "imageRepository":
                    registry.ImageRepository = r.String(value, path);
                    break;
                case "credentialsFile":
                    registry.CredentialsFile = r.String(value, path);
                    break;
                case "mirrors":
                    foreach (var (host, endpoints, hostPath) in r.MapEntries(value, path))
                    {
                        var mirror = new MirrorEndpoints();
                        mirror.Endpoints.AddRange(r.Strings(endpoints, hostPath));
                        registry.Mirrors[host] = mirror;
                    }
                    break;
            }
        }
    }

    private static Artifact ReadArtifact(YamlFieldReader r, YamlNode node, string artifactPath)
    {
        var artifact = new Artifact();
        foreach (var (key, value, path) in r.Fields(node, artifactPath, ArtifactFields))
        {
            var text = r.String(value, path);
            switch (key)
            {
                case "name": artifact.Name = text; break;
                case "url": artifact.Url = text; break;
                case "sha256": artifact.Sha256 = text; break;
                case "installPath": artifact.InstallPath = text; break;
                case "mode": artifact.Mode = text; break;
            }
        }
        return artifact;
    }

    private static void ReadKubelet(YamlFieldReader r, YamlNode node, string kubeletPath, KubeletSpec kubelet)
    {
        foreach (var (key, value, path) in r.Fields(node, kubeletPath, KubeletFields))
        {
            switch (key)
            {
                case "dropInName":
                    kubelet.DropInName = r.String(value, path);
                    break;
                case "extraArgs":
                    foreach (var (flag, v, p) in r.MapEntries(value, path)) kubelet.ExtraArgs[flag] = r.String(v, p);
                    break;
            }
        }
    }

    private static void ReadDrain(YamlFieldReader r, YamlNode node, string drainPath, DrainSpec drain)
    {
        foreach (var (key, value, path) in r.Fields(node, drainPath, DrainFields))
        {
            switch (key)
            {
                case "timeout":
                    drain.Timeout = ReadDuration(r, value, path);
                    break;
                case "gracePeriod":
                    if (ReadSeconds(r, value, path) is { } seconds) drain.GracePeriodSeconds = seconds;
                    break;
                case "deleteEmptyDirData":
                    drain.DeleteEmptyDirData = r.Bool(value, path);
                    break;
                case "podSelector":
                    // Written but empty is a mistake (the wire model cannot tell it from "every pod").
                    drain.PodSelector = r.String(value, path);
                    if (drain.PodSelector.Trim().Length == 0 && !r.Source.IsUnreadable(path))
                        r.Unreadable(value, path, DrainRules.SelectorProblem(drain.PodSelector)!);
                    break;
                case "skipWaitForDeleteTimeout":
                    drain.SkipWaitForDeleteTimeout = ReadDuration(r, value, path);
                    break;
                case "onTimeout":
                    drain.OnTimeout = r.String(value, path);
                    break;
                case "force":
                    drain.Force = r.Bool(value, path);
                    break;
            }
        }
    }

    /// <summary>Whole seconds, written as a number (30) or a duration (30s, 2m); negatives are left to the validator.</summary>
    private static int? ReadSeconds(YamlFieldReader r, YamlNode node, string path)
    {
        var text = r.String(node, path).Trim();
        if (r.Source.IsUnreadable(path)) return null;
        if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n))
            return n;
        try
        {
            var span = Durations.Parse(text);
            if (span.Ticks % TimeSpan.TicksPerSecond == 0 && span.TotalSeconds <= int.MaxValue) return (int)span.TotalSeconds;
            r.Unreadable(node, path, $"'{text}' is not a whole number of seconds");
        }
        catch (FormatException)
        {
            r.Unreadable(node, path, $"'{text}' is not a number of seconds or a duration (e.g. 30 or 30s)");
        }
        return null;
    }

    private static Duration? ReadDuration(YamlFieldReader r, YamlNode node, string path)
    {
        var text = r.String(node, path);
        if (r.Source.IsUnreadable(path)) return null;
        try
        {
            return Duration.FromTimeSpan(Durations.Parse(text));
        }
        catch (FormatException e)
        {
            r.Unreadable(node, path, e.Message);
            return null;
        }
    }
}
