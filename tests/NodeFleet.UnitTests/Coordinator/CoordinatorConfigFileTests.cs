using System.Collections;
using NodeFleet.Coordinator.Hosting;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Coordinator;

/// <summary>coordinator.yaml, the environment and the flags, and what is said when one of them is wrong.</summary>
public sealed class CoordinatorConfigFileTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private static readonly Dictionary<string, string?> NoFlags = [];
    private static readonly Hashtable NoEnvironment = [];

    public void Dispose() => _tmp.Dispose();

    private string Write(string text)
    {
        var path = _tmp.File("coordinator.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private static StartupException Refused(string path) =>
        Assert.Throws<StartupException>(() => CoordinatorOptions.Load(path, NoFlags, NoEnvironment));

    [Fact]
    public void The_documented_keys_are_read()
    {
        var path = Write("listen: 127.0.0.1:9443\nmetricsListen: \"off\"\ndataDir: /srv/nf\nheartbeatInterval: 7s\n" +
                         "maxHeartbeatRate: 2.5\nmaxReconnectRate: 50\nlogFormat: json\nlogLevel: Debug\n");
        var o = CoordinatorOptions.Load(path, NoFlags, NoEnvironment);
        Assert.Equal("127.0.0.1:9443", o.Listen);
        Assert.Equal("off", o.MetricsListen);
        Assert.Equal("/srv/nf", o.DataDir);
        Assert.Equal("7s", o.HeartbeatInterval);
        Assert.Equal(2.5, o.MaxHeartbeatRate);
        Assert.Equal(50, o.MaxReconnectRate);
        Assert.Equal("json", o.LogFormat);
        Assert.Equal("Debug", o.LogLevel);
        o.Validate();
    }

    [Fact]
    public void Flags_beat_the_environment_which_beats_the_file()
    {
        var path = Write("listen: 127.0.0.1:1\nheartbeatInterval: 7s\nlogLevel: Warning\n");
        var env = new Hashtable { ["NODEFLEET_LISTEN"] = "127.0.0.1:2", ["nodefleet_heartbeatinterval"] = "8s", ["NODEFLEET_CONFIG"] = "/elsewhere" };
        var o = CoordinatorOptions.Load(path, new Dictionary<string, string?> { ["Listen"] = "127.0.0.1:3" }, env);
        Assert.Equal("127.0.0.1:3", o.Listen);
        Assert.Equal("8s", o.HeartbeatInterval);
        Assert.Equal("Warning", o.LogLevel);
    }

    [Fact]
    public void A_reconnect_rate_that_is_not_a_non_negative_number_says_what_is_expected()
    {
        Assert.Equal("maxReconnectRate 'fast' is not a number: give reconnections per second, at least 0 (0: no spreading)",
            Refused(Write("maxReconnectRate: fast\n")).Message);
        var negative = CoordinatorOptions.Load(Write("maxReconnectRate: -1\n"), NoFlags, NoEnvironment);
        Assert.Equal("maxReconnectRate -1 must be a number of reconnections per second, at least 0 (0: no spreading)",
            Assert.Throws<StartupException>(negative.Validate).Message);
    }

    [Fact]
    public void An_unknown_key_is_refused_with_its_file_and_line()
    {
        var path = Write("listen: 127.0.0.1:1\n\nbogusKey: 1\n");
        var e = Refused(path);
        Assert.StartsWith($"{path}:3: unknown field 'bogusKey'", e.Message);
        Assert.Contains("maxHeartbeatRate", e.Message);
    }

    [Theory]
    [InlineData("listen: [127.0.0.1:1\nmetricsListen: off\n", 1)]
    [InlineData("listen: 127.0.0.1:1\nlogLevel: [a\ndataDir: /x\n", 2)]
    [InlineData("listen: 127.0.0.1:1\nmetricsListen: a: b\n", 2)]
    [InlineData("- listen\n", 1)]
    public void Yaml_that_does_not_parse_is_refused_with_its_file_and_line(string text, int line)
    {
        var path = Write(text);
        var e = Refused(path);
        Assert.StartsWith($"{path}:{line}: ", e.Message);
    }

    [Fact]
    public void A_binary_file_is_not_text()
    {
        var path = _tmp.File("coordinator.yaml");
        File.WriteAllBytes(path, [.. "listen: x\n"u8, 0x7f, 0x45, 0x4c, 0x46, 0xff, 0xfe, 0x00]);
        Assert.Equal($"{path}:2: not a text file (byte 0xff is not UTF-8)", Refused(path).Message);
        File.WriteAllBytes(path, [.. "listen: x\nlogLevel: Debug\n"u8, 0x00, 0x01]);
        Assert.Equal($"{path}:3: not a text file (it holds NUL bytes)", Refused(path).Message);
    }

    [Fact]
    public void A_missing_or_directory_config_file_is_named()
    {
        Assert.Equal($"config file {_tmp.File("nope.yaml")} does not exist", Refused(_tmp.File("nope.yaml")).Message);
        Assert.Equal($"config file {_tmp.Path} is a directory", Refused(_tmp.Path).Message);
        Assert.Equal("--config is empty", Refused("").Message);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("")]
    [InlineData("1,5")]
    public void A_heartbeat_rate_that_is_not_a_number_says_what_is_expected(string rate)
    {
        var e = Assert.Throws<StartupException>(() =>
            CoordinatorOptions.Load(null, new Dictionary<string, string?> { ["MaxHeartbeatRate"] = rate }, NoEnvironment));
        Assert.Equal($"maxHeartbeatRate '{rate}' is not a number: give heartbeats per second, at least 0 (0: no bound)", e.Message);
    }

    [Fact]
    public void An_empty_data_directory_or_unknown_log_level_is_named()
    {
        Assert.Equal("dataDir is empty", Assert.Throws<StartupException>(() => new CoordinatorOptions { DataDir = " " }.Validate()).Message);
        Assert.StartsWith("logLevel 'loud' is not one of: Verbose, Debug",
            Assert.Throws<StartupException>(() => new CoordinatorOptions { LogLevel = "loud" }.Validate()).Message);
        Assert.Throws<StartupException>(() => new CoordinatorOptions { LogLevel = "3" }.Validate());
        new CoordinatorOptions { LogLevel = "warning" }.Validate();
    }
}
