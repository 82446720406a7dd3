using NodeFleet.Plans;

namespace NodeFleet.Tests.Plans;

/// <summary>The sample plans under Plans/testdata (copied next to the test assembly), and error assertions.</summary>
internal static class PlanTestData
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Plans", "testdata", name);

    public static PlanLoadResult Load(string name) => PlanLoader.LoadFile(PathOf(name));

    /// <summary>Asserts exactly these errors, in this order: line, field path and a part of the message.</summary>
    public static void AssertErrors(PlanLoadResult result, params (int Line, string Path, string Says)[] expected)
    {
        var actual = string.Join("\n", result.Errors);
        Assert.True(expected.Length == result.Errors.Count, $"expected {expected.Length} errors, got:\n{actual}");
        for (var i = 0; i < expected.Length; i++)
        {
            var e = result.Errors[i];
            Assert.True(expected[i].Line == e.Line && expected[i].Path == e.Path && e.Message.Contains(expected[i].Says, StringComparison.Ordinal),
                $"error {i}: expected line {expected[i].Line}, {expected[i].Path}, '{expected[i].Says}'; got:\n{actual}");
        }
        Assert.Null(result.Plan);
    }
}
