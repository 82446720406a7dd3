using System.Diagnostics;
using NodeFleet.Rendering;
using NodeFleet.Tests.TestSupport;

namespace NodeFleet.Tests.Rendering;

public class UnifiedDiffTests
{
    private static byte[] Lines(params string[] lines) => Utf8.Bytes(string.Concat(lines.Select(l => l + "\n")));

    private static readonly byte[] Sixteen = Lines([.. Enumerable.Range(1, 16).Select(i => "line " + i)]);

    [Fact]
    public void Equal_bytes_give_no_diff() => Assert.Equal("", UnifiedDiff.Create("/etc/x", Sixteen, Sixteen));

    [Fact]
    public void A_new_file_is_all_additions_from_dev_null() =>
        Assert.Equal("--- /dev/null\n+++ /etc/x\n@@ -0,0 +1,2 @@\n+a\n+b\n", UnifiedDiff.Create("/etc/x", null, Lines("a", "b")));

    [Fact]
    public void Emptying_a_file() =>
        Assert.Equal("--- /etc/x\n+++ /etc/x\n@@ -1,2 +0,0 @@\n-a\n-b\n", UnifiedDiff.Create("/etc/x", Lines("a", "b"), []));

    [Fact]
    public void A_change_has_three_lines_of_context()
    {
        var after = Utf8.Bytes(Utf8.Text(Sixteen).Replace("line 8\n", "LINE 8\n"));
        Assert.Equal(
            "--- /etc/x\n+++ /etc/x\n@@ -5,7 +5,7 @@\n line 5\n line 6\n line 7\n-line 8\n+LINE 8\n line 9\n line 10\n line 11\n",
            UnifiedDiff.Create("/etc/x", Sixteen, after));
    }

    [Fact]
    public void Distant_changes_are_separate_hunks_and_near_ones_merge()
    {
        var far = Utf8.Bytes(Utf8.Text(Sixteen).Replace("line 2\n", "two\n").Replace("line 15\n", "fifteen\n"));
        var farDiff = UnifiedDiff.Create("x", Sixteen, far);
        Assert.Equal(2, farDiff.Split('\n').Count(l => l.StartsWith("@@")));
        Assert.Contains("@@ -1,5 +1,5 @@\n", farDiff);
        Assert.Contains("@@ -12,5 +12,5 @@\n", farDiff);

        var near = Utf8.Bytes(Utf8.Text(Sixteen).Replace("line 4\n", "four\n").Replace("line 10\n", "ten\n"));
        var nearDiff = UnifiedDiff.Create("x", Sixteen, near);
        Assert.Single(nearDiff.Split('\n'), l => l.StartsWith("@@"));
        Assert.Contains("@@ -1,13 +1,13 @@\n", nearDiff);
    }

    [Fact]
    public void Marks_a_last_line_without_newline() =>
        Assert.Equal(
            "--- x\n+++ x\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
            UnifiedDiff.Create("x", Utf8.Bytes("a\nb"), Lines("a", "b")));

    public static TheoryData<string, string> AgreeWithGnuDiff => new()
    {
        { "a\nb\nc\n", "a\nB\nc\nd\n" },
        { string.Concat(Enumerable.Range(1, 30).Select(i => $"{i}\n")), string.Concat(Enumerable.Range(1, 30).Select(i => i % 9 == 0 ? $"x{i}\n" : $"{i}\n")) },
        { "keep\n", "" },
        { "", "new\nfile\n" },
        { "no newline", "no newline\n" },
        { "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n", "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n" },
    };

    /// <summary>GNU diff (diffutils, always on Debian) is the reference for the format; its headers carry timestamps, so they are cut.</summary>
    [Theory]
    [MemberData(nameof(AgreeWithGnuDiff))]
    public void Hunks_agree_with_gnu_diff(string before, string after)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a"), before);
        File.WriteAllText(dir.File("b"), after);
        var psi = new ProcessStartInfo("diff") { RedirectStandardOutput = true };
        foreach (var a in new[] { "-u", dir.File("a"), dir.File("b") }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var gnu = p.StandardOutput.ReadToEnd();
        p.WaitForExit();

        var ours = UnifiedDiff.Create("x", Utf8.Bytes(before), Utf8.Bytes(after));
        Assert.Equal(Body(gnu), Body(ours));
    }

    private static string Body(string diff) => string.Join('\n', diff.Split('\n').Skip(2));
}
