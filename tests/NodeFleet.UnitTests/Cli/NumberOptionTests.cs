using System.CommandLine;
using NodeFleet.Cli;
using NodeFleet.Tests.TestSupport;
using static NodeFleet.Tests.Cli.CliRun;

namespace NodeFleet.Tests.Cli;

/// <summary>
/// Whole-number options: a bad value is one "error: --flag: expected …, got '…'" line (plus the usage hint), in the
/// product's words, never the library's conversion message with .NET type names, never an unhandled exception.
/// </summary>
public sealed class NumberOptionTests : IDisposable
{
    private const string Nowhere = "127.0.0.1:1";
    private readonly TempDir _dir = new();
    private readonly string _config;

    public NumberOptionTests() => _config = WriteConfig(_dir, Nowhere);

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("token create --usages -3", "error: --usages: expected a whole number ≥ 0, got '-3'")]
    [InlineData("token create --usages abc", "error: --usages: expected a whole number ≥ 0, got 'abc'")]
    [InlineData("token create --usages 99999999999", "error: --usages: expected a whole number from 0 to 2147483647, got '99999999999'")]
    [InlineData("token create --usages 2147483648", "error: --usages: expected a whole number from 0 to 2147483647, got '2147483648'")]
    [InlineData("events --limit abc", "error: --limit: expected a whole number from 0 to 1000, got 'abc'")]
    [InlineData("events --limit -1", "error: --limit: expected a whole number from 0 to 1000, got '-1'")]
    [InlineData("events --limit 1001", "error: --limit: expected a whole number from 0 to 1000, got '1001'")]
    [InlineData("events -f --limit 1.5", "error: --limit: expected a whole number from 0 to 1000, got '1.5'")]
    [InlineData("rollout start plan.yaml -l a=b --canary abc", "error: --canary: expected a whole number ≥ 0, got 'abc'")]
    [InlineData("rollout start plan.yaml -l a=b --canary -1", "error: --canary: expected a whole number ≥ 0, got '-1'")]
    [InlineData("rollout start plan.yaml -l a=b --prepare-concurrency abc", "error: --prepare-concurrency: expected a whole number ≥ 1, got 'abc'")]
    [InlineData("rollout start plan.yaml -l a=b --prepare-concurrency 0", "error: --prepare-concurrency: expected a whole number ≥ 1, got '0'")]
    [InlineData("rollout start plan.yaml -l a=b --prepare-concurrency 3000000000", "error: --prepare-concurrency: expected a whole number from 1 to 2147483647, got '3000000000'")]
    public async Task A_bad_number_is_refused_in_the_products_words(string command, string expected)
    {
        var (code, stdout, stderr) = await Run([.. command.Split(' '), "--config", _config]);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        var lines = stderr.TrimEnd('\n').Split('\n');
        Assert.Equal(expected, lines[0]);
        Assert.StartsWith("Run 'nodefleet ", lines[^1]);
        Assert.DoesNotContain("System.", stderr);
        Assert.DoesNotContain("cannot reach", stderr);
    }

    [Fact]
    public async Task Good_numbers_are_taken()
    {
        // The control: valid values parse and the command goes on to the network.
        foreach (var command in new[] { "token create --usages 3", "events --limit 0", "events --limit 1000" })
        {
            var (code, _, stderr) = await Run([.. command.Split(' '), "--config", _config]);
            Assert.Equal(1, code);
            Assert.StartsWith($"error: cannot reach the coordinator at {Nowhere}", stderr);
        }
    }

    /// <summary>Every numeric option of every command, found by walking the command tree.</summary>
    public static TheoryData<string, string> NumericOptions()
    {
        var data = new TheoryData<string, string>();
        void Walk(Command c, string path)
        {
            foreach (var o in c.Options)
            {
                var t = Nullable.GetUnderlyingType(o.ValueType) ?? o.ValueType;
                if (t.IsPrimitive && t != typeof(bool) || t == typeof(decimal)) data.Add(path, o.Name);
            }
            foreach (var sub in c.Subcommands) Walk(sub, path.Length == 0 ? sub.Name : $"{path} {sub.Name}");
        }
        Walk(CliApp.CreateRoot(new CliEnvironment(TextWriter.Null, TextWriter.Null, _ => null, "/nonexistent-home", _ => false,
            TimeProvider.System)), "");
        return data;
    }

    [Fact]
    public void The_walk_finds_the_numeric_options() =>
        Assert.Equal(["events --limit", "node list --chunk-size", "nodes --chunk-size", "rollout start --canary", "rollout start --prepare-concurrency", "token create --usages"],
            NumericOptions().Select(r => $"{r[0]} {r[1]}").Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(NumericOptions))]
    public async Task No_numeric_option_shows_dotnet_type_names(string command, string option)
    {
        foreach (var value in new[] { "abc", "-99999999999", "99999999999", "1.5" })
        {
            var (code, _, stderr) = await Run([.. command.Split(' '), option, value, "--config", _config]);
            Assert.Equal(1, code);
            Assert.Contains($"error: {option}: expected a whole number", stderr);
            Assert.Contains($"got '{value}'", stderr);
            Assert.DoesNotContain("System.", stderr);
            Assert.DoesNotContain("Cannot parse argument", stderr);
        }
    }
}
