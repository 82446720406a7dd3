using NodeFleet.IntegrationTests.Infrastructure;

namespace NodeFleet.IntegrationTests;

/// <summary>The agent binary's own command line: usage errors as one `error:` line on stderr and a pointer to help.</summary>
public sealed class AgentCommandLineTests
{
    [Theory]
    [InlineData(new[] { "--bogus" }, "Unrecognized command or argument '--bogus'", "nodefleet-agent --help")]
    [InlineData(new[] { "facts", "-o", "yaml" }, "Unrecognized command or argument '-o'", "nodefleet-agent facts --help")]
    [InlineData(new[] { "apply" }, "Required argument 'FILE' missing for command: 'apply'", "nodefleet-agent apply --help")]
    public async Task A_usage_error_is_one_error_line_and_where_to_look(string[] args, string error, string help)
    {
        var r = await Proc.RunAsync(Binaries.Agent, args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.StdOut);
        Assert.Contains($"error: {error}", r.StdErr);
        Assert.EndsWith($"Run '{help}' for usage.\n", r.StdErr);
    }

    [Fact]
    public async Task Without_a_command_the_help_is_shown_and_defaults_once()
    {
        var r = await Proc.RunAsync(Binaries.Agent, []);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("join", r.StdOut);
        Assert.Contains("[default: /]", r.StdOut);
        Assert.DoesNotContain("(default /)", r.StdOut);
    }
}
