namespace NodeFleet.IO;

/// <summary>
/// LiteDB 5.0.21 builds a type's mapping lazily and lets other threads use it half-built (litedb#2536), which
/// loses fields under concurrent first use. Mapping each record type once, on one thread, before the database is
/// shared avoids it.
/// </summary>
public static class LiteDbMapping
{
    public static LiteDB.BsonMapper Create(params object[] samples)
    {
        var mapper = new LiteDB.BsonMapper { EmptyStringToNull = false, TrimWhitespace = false };
        foreach (var sample in samples)
        {
            var doc = mapper.ToDocument(sample.GetType(), sample);
            _ = mapper.Deserialize(sample.GetType(), doc);
        }
        return mapper;
    }
}
