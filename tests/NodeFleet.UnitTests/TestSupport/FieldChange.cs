using System.Reflection;

namespace NodeFleet.Tests.TestSupport;

/// <summary>
/// For the tests that a record's field-by-field comparison leaves no stored field out: a value of each property
/// different from the one it holds.
/// </summary>
public static class FieldChange
{
    /// <summary>The public settable properties of <typeparamref name="T"/>: what its store keeps.</summary>
    public static List<PropertyInfo> StoredFields<T>() =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();

    /// <summary>
    /// Asserts that each stored field of <typeparamref name="T"/> (at least <paramref name="fields"/> of them), changed
    /// alone on a fresh <paramref name="sample"/>, makes it differ from its <paramref name="copy"/> by <paramref name="same"/>.
    /// </summary>
    public static void AssertEveryChangeSeen<T>(Func<T> sample, Func<T, T> copy, Func<T, T, bool> same, int fields) where T : notnull
    {
        var stored = StoredFields<T>();
        Assert.True(stored.Count >= fields, $"only {stored.Count} fields found");
        foreach (var p in stored)
        {
            var record = sample();
            var before = copy(record);
            Assert.True(same(record, before), p.Name);
            Change(record, p);
            Assert.False(same(record, before), $"a change of {p.Name} is not seen");
        }
    }

    /// <summary>Sets <paramref name="p"/> of <paramref name="record"/> to a value other than the one it holds.</summary>
    public static void Change(object record, PropertyInfo p)
    {
        var t = p.PropertyType;
        var value = p.GetValue(record);
        object changed = t switch
        {
            _ when t == typeof(string) => (string)value! + "x",
            _ when t == typeof(int) => (int)value! + 1,
            _ when t == typeof(bool) => !(bool)value!,
            _ when t == typeof(DateTime?) => ((DateTime?)value ?? DateTime.UnixEpoch).AddSeconds(1),
            _ when t.IsEnum => Enum.GetValues(t).Cast<object>().First(v => !v.Equals(value)),
            _ when t == typeof(List<string>) => new List<string>((List<string>)value!) { "more" },
            _ when t == typeof(Dictionary<string, string>) => new Dictionary<string, string>((Dictionary<string, string>)value!) { ["more"] = "1" },
            _ => throw new InvalidOperationException($"{p.Name}: a field of type {t.Name} this test does not know how to change; teach it and the comparison"),
        };
        p.SetValue(record, changed);
    }
}
