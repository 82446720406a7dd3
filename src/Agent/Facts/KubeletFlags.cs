using System.Text;

namespace NodeFleet.Agent.Facts;

/// <summary>
/// The kubelet's command line as a kubeadm-installed node starts it, read from its files (never from the running
/// process): the unit's drop-ins (10-kubeadm.conf's Environment= lines and ExecStart=), KUBELET_KUBEADM_ARGS from
/// /var/lib/kubelet/kubeadm-flags.env and KUBELET_EXTRA_ARGS from /etc/default/kubelet (or /etc/sysconfig/kubelet).
/// As for the kubelet's own flag parser, the last occurrence of a flag wins.
/// </summary>
public static class KubeletFlags
{
    public const string KubeadmFlagsFile = "/var/lib/kubelet/kubeadm-flags.env";
    public static readonly IReadOnlyList<string> ExtraArgsFiles = ["/etc/default/kubelet", "/etc/sysconfig/kubelet"];

    /// <summary>Drop-in directories, the packaged one first: a file of the same name under /etc replaces it (as systemd does).</summary>
    public static readonly IReadOnlyList<string> DropInDirectories =
        ["/usr/lib/systemd/system/kubelet.service.d", "/lib/systemd/system/kubelet.service.d", "/etc/systemd/system/kubelet.service.d"];

    /// <summary>
    /// The kubelet's arguments. <paramref name="read"/> gives a file's text (null when absent);
    /// <paramref name="dropIns"/> the drop-in files in the order systemd applies them.
    /// </summary>
    public static IReadOnlyList<string> Arguments(Func<string, string?> read, IEnumerable<string> dropIns)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        string? execStart = null;
        foreach (var path in dropIns)
        {
            foreach (var line in Logical(read(path)))
            {
                if (line.StartsWith("Environment=", StringComparison.Ordinal))
                    foreach (var assignment in Words(line["Environment=".Length..]))
                        if (assignment.IndexOf('=') is > 0 and var eq) variables[assignment[..eq]] = assignment[(eq + 1)..];
                if (line.StartsWith("ExecStart=", StringComparison.Ordinal))
                {
                    // An empty ExecStart= clears the one before it, as drop-ins that replace the command do.
                    var command = line["ExecStart=".Length..].Trim();
                    execStart = command.Length == 0 ? null : command;
                }
            }
        }
        foreach (var (name, value) in EnvFile(read(KubeadmFlagsFile))) variables[name] = value;
        foreach (var file in ExtraArgsFiles)
            foreach (var (name, value) in EnvFile(read(file))) variables[name] = value;

        if (execStart is null)
            // No drop-in says how the kubelet starts: kubeadm's 10-kubeadm.conf passes these two, in this order.
            return [.. Words(variables.GetValueOrDefault("KUBELET_KUBEADM_ARGS", "")), .. Words(variables.GetValueOrDefault("KUBELET_EXTRA_ARGS", ""))];
        var args = new List<string>();
        foreach (var word in Words(execStart).Skip(1))
        {
            if (word.StartsWith('$'))
            {
                var name = word.StartsWith("${", StringComparison.Ordinal) && word.EndsWith('}') ? word[2..^1] : word[1..];
                args.AddRange(Words(variables.GetValueOrDefault(name, "")));
            }
            else args.Add(word);
        }
        return args;
    }

    /// <summary>The value of the last <c>--NAME=V</c> or <c>--NAME V</c> (also with one dash); null when it is not given.</summary>
    public static string? Value(IReadOnlyList<string> args, string name)
    {
        string? value = null;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            var bare = a.StartsWith("--", StringComparison.Ordinal) ? a[2..] : a.StartsWith('-') ? a[1..] : null;
            if (bare is null) continue;
            if (bare.StartsWith(name + "=", StringComparison.Ordinal)) value = bare[(name.Length + 1)..];
            else if (bare == name && i + 1 < args.Count) value = args[++i];
        }
        return value;
    }

    /// <summary>KEY=VALUE lines of an environment file (systemd's EnvironmentFile=), quotes removed; comments skipped.</summary>
    private static IEnumerable<(string Name, string Value)> EnvFile(string? text)
    {
        foreach (var line in Logical(text))
        {
            var eq = line.IndexOf('=');
            if (eq <= 0) continue;
            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0]) value = value[1..^1];
            yield return (line[..eq].Trim(), value);
        }
    }

    /// <summary>Non-empty, non-comment lines, with backslash continuations joined.</summary>
    private static IEnumerable<string> Logical(string? text)
    {
        if (text is null) yield break;
        var current = new StringBuilder();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.EndsWith('\\'))
            {
                current.Append(line, 0, line.Length - 1).Append(' ');
                continue;
            }
            current.Append(line);
            var whole = current.ToString().Trim();
            current.Clear();
            if (whole.Length > 0 && whole[0] is not '#' and not ';') yield return whole;
        }
        if (current.ToString().Trim() is { Length: > 0 } rest && rest[0] is not '#' and not ';') yield return rest;
    }

    /// <summary>Splits on whitespace, keeping quoted parts ("..." or '...') together without their quotes.</summary>
    private static List<string> Words(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        char? quote = null;
        var any = false;
        foreach (var c in text)
        {
            if (quote is { } q)
            {
                if (c == q) quote = null;
                else word.Append(c);
            }
            else if (c is '"' or '\'') { quote = c; any = true; }
            else if (char.IsWhiteSpace(c))
            {
                if (any || word.Length > 0) words.Add(word.ToString());
                word.Clear();
                any = false;
            }
            else word.Append(c);
        }
        if (any || word.Length > 0) words.Add(word.ToString());
        return words;
    }
}
