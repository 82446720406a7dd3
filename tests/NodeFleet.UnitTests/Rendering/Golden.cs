using System.Runtime.CompilerServices;
using System.Text;
using NodeFleet.Rendering;

namespace NodeFleet.Tests.Rendering;

/// <summary>
/// Golden files: the exact bytes a renderer must produce, kept in <c>Rendering/golden/</c> of the source tree and
/// compared byte for byte. After an intended change to a renderer, regenerate them with
/// <c>NODEFLEET_UPDATE_GOLDEN=1 dotnet test tests/NodeFleet.UnitTests --filter "FullyQualifiedName~Rendering"</c>
/// and review every changed file (<c>git diff</c>) before committing: the golden files are the specification.
/// Fixtures the tests merge into are in <c>golden/inputs/</c>.
/// </summary>
internal static class Golden
{
    public static string Directory { get; } = Locate();

    public static bool Updating => Environment.GetEnvironmentVariable("NODEFLEET_UPDATE_GOLDEN") == "1";

    public static byte[] Input(string name) => File.ReadAllBytes(Path.Combine(Directory, "inputs", name));

    public static void Matches(string name, byte[] actual)
    {
        var path = Path.Combine(Directory, name);
        if (Updating)
        {
            File.WriteAllBytes(path, actual);
            return;
        }
        if (!File.Exists(path))
            Assert.Fail($"golden file {name} is missing. Actual output:\n{Utf8.Text(actual)}\n" +
                        "Create it with NODEFLEET_UPDATE_GOLDEN=1 and review it.");
        var expected = File.ReadAllBytes(path);
        if (!expected.AsSpan().SequenceEqual(actual))
            Assert.Fail($"output differs from golden file {name}.\n=== expected\n{Utf8.Text(expected)}\n=== actual\n{Utf8.Text(actual)}\n" +
                        $"=== diff (expected → actual)\n{UnifiedDiff.Create(name, expected, actual)}");
    }

    // The golden files are read from (and rewritten in) the source tree, so the update switch edits what is committed.
    private static string Locate([CallerFilePath] string source = "")
    {
        var beside = Path.Combine(Path.GetDirectoryName(source) ?? "", "golden");
        if (System.IO.Directory.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "NodeFleet.UnitTests", "Rendering", "golden");
            if (System.IO.Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/NodeFleet.UnitTests/Rendering/golden not found from " + AppContext.BaseDirectory);
    }
}

/// <summary>Strings ↔ the bytes renderers take and return.</summary>
internal static class Utf8
{
    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
