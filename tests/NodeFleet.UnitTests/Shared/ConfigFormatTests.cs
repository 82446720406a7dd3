using NodeFleet.Config;
using NodeFleet.IO;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Shared;

/// <summary>
/// The one serializer of the flat config files: what it writes reads back the same, every refusal names the file and
/// the line, and a file is replaced whole with the mode its format gives.
/// </summary>
public sealed class ConfigFormatTests : IDisposable
{
    private sealed class Sample
    {
        public string Name { get; set; } = "default";
        public int Count { get; set; }
        public DateTime? At { get; set; }
    }

    private static readonly ConfigField<Sample>[] Fields =
    [
        ConfigField.Text<Sample>("name", s => s.Name, (s, v) => s.Name = v),
        ConfigField.Integer<Sample>("count", s => s.Count, (s, v) => s.Count = v),
        ConfigField.Time<Sample>("at", s => s.At, (s, v) => s.At = v),
    ];

    private static readonly ConfigFormat<Sample> Strict = new(Fields, AtomicFile.Private);
    private static readonly ConfigFormat<Sample> Lenient = new(Fields, AtomicFile.Public, ignoreUnknown: true);

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string text)
    {
        var path = _dir.File("sample.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private ConfigException Refused(string text, ConfigFormat<Sample>? format = null)
    {
        var path = Write(text);
        return Assert.Throws<ConfigException>(() => (format ?? Strict).Load(path, "sample"));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("has: a colon and # a hash")]
    [InlineData(" leading and trailing space ")]
    [InlineData("null")]
    [InlineData("123")]
    [InlineData("'quoted'")]
    [InlineData("!!!tag-like")]
    [InlineData("two\nlines")]
    [InlineData("")]
    public void What_is_saved_loads_back_the_same(string name)
    {
        var path = _dir.File("round.yaml");
        var at = new DateTime(2026, 12, 7, 1, 28, 52, 123, DateTimeKind.Utc).AddTicks(4567);
        Strict.Save(path, new Sample { Name = name, Count = -42, At = at });

        var loaded = Strict.Load(path, "sample")!.Value;
        Assert.Equal(name, loaded.Name);
        Assert.Equal(-42, loaded.Count);
        Assert.Equal(at, loaded.At);
        Assert.Equal(DateTimeKind.Utc, loaded.At!.Value.Kind);
    }

    [Fact]
    public void Keys_are_written_in_declaration_order_and_a_missing_time_is_left_out()
    {
        var text = Strict.Write(new Sample { Name = "n", Count = 3 });
        Assert.Equal("name: n\ncount: 3\n", text.Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    [Fact]
    public void A_field_absent_from_the_file_keeps_its_default_and_has_no_line()
    {
        var path = Write("count: 7\n");
        var document = Strict.Load(path, "sample")!;
        Assert.Equal("default", document.Value.Name);
        Assert.Equal(7, document.Value.Count);
        Assert.Null(document.Value.At);
        Assert.Equal($"{path}:1", document.At("count"));
        Assert.Equal(path, document.At("name"));
    }

    [Fact]
    public void The_mode_of_the_format_is_the_mode_of_the_file_even_over_a_looser_one()
    {
        var path = _dir.File("secret.yaml");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, AtomicFile.Public | UnixFileMode.OtherWrite);
        Strict.Save(path, new Sample());
        Assert.Equal(AtomicFile.Private, File.GetUnixFileMode(path));
        Lenient.Save(_dir.File("public.yaml"), new Sample());
        Assert.Equal(AtomicFile.Public, File.GetUnixFileMode(_dir.File("public.yaml")));
        // Replaced whole through a temporary file that does not stay behind.
        Assert.Equal(["public.yaml", "secret.yaml"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void An_unknown_key_is_refused_with_its_line_or_skipped_when_the_format_says_so()
    {
        var text = "name: a\ncount: 1\nbogus: x\n";
        var e = Refused(text);
        Assert.Equal($"{_dir.File("sample.yaml")}:3: unknown field 'bogus' (expected one of: name, count, at)", e.Message);
        Assert.Equal("a", Lenient.Read(text, "f")!.Value.Name);
    }

    [Theory]
    [InlineData("name: a\ncount: [1\nat: x\n", "[2-4]")]
    [InlineData("name: a\n  count: 1\n", "[12]")]
    [InlineData("name: a\nname: b\n", "2")]
    [InlineData("name: a\ncount:\n  nested: 1\n", "3")]
    [InlineData("- a\n- b\n", "1")]
    public void Yaml_that_is_not_a_flat_mapping_names_the_file_and_line(string text, string line)
    {
        var e = Refused(text);
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(_dir.File("sample.yaml"))}:{line}: .+", e.Message);
    }

    [Theory]
    [InlineData("name: a\ncount: many\n", "2: count: expected a whole number, not 'many'")]
    [InlineData("count: 99999999999\n", "1: count: expected a whole number, not '99999999999'")]
    [InlineData("name: a\n\nat: yesterday\n", "3: at: expected a time such as 2026-12-07T01:28:52Z, not 'yesterday'")]
    public void A_value_its_field_cannot_take_names_the_file_line_and_field(string text, string expected)
    {
        var e = Refused(text);
        Assert.Equal($"{_dir.File("sample.yaml")}:{expected}", e.Message);
        Assert.NotNull(e.Field);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    [InlineData("---\n")]
    public void A_file_without_a_document_reads_as_null(string text) =>
        Assert.Null(Strict.Load(Write(text), "sample"));

    [Fact]
    public void A_file_that_cannot_be_read_says_why()
    {
        var missing = _dir.File("nope.yaml");
        Assert.Equal($"cannot read sample {missing}: no such file",
            Assert.Throws<ConfigException>(() => Strict.Load(missing, "sample")).Message);
        Assert.Equal($"cannot read sample {_dir.Path}: it is a directory",
            Assert.Throws<ConfigException>(() => Strict.Load(_dir.Path, "sample")).Message);
    }

    // The agent's link state was JSON before it was this format: a JSON object is YAML, and reads the same.
    [Fact]
    public void A_json_object_reads_as_the_same_fields()
    {
        var loaded = Strict.Read("{\n  \"name\": \"x: y\",\n  \"count\": 12,\n  \"at\": null\n}", "f")!.Value;
        Assert.Equal(("x: y", 12, (DateTime?)null), (loaded.Name, loaded.Count, loaded.At));
        var at = Strict.Read("{\"at\": \"2026-12-07T01:28:52.5Z\"}", "f")!.Value.At;
        Assert.Equal(new DateTime(2026, 12, 7, 1, 28, 52, 500, DateTimeKind.Utc), at);
    }

    [Fact]
    public void A_key_declared_twice_is_a_programming_error()
    {
        Assert.Throws<ArgumentException>(() => new ConfigFormat<Sample>([Fields[0], Fields[0]], AtomicFile.Private));
    }
}
