using NodeFleet.Coordinator.Hosting;
using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.LiteDb;
using NodeFleet.Coordinator.Store.Postgres;

namespace NodeFleet.Coordinator.Commands;

/// <summary>
/// `nodefleet-coordinator migrate-store --from DATA_DIR --to postgres://…`: copies a LiteDB data directory's state
/// into an empty PostgreSQL database while no coordinator holds the directory, then compares the count of every table
/// on both sides. A target that holds anything is refused before a row is written; the LiteDB file is only read.
/// The CA and certificates stay files of the data directory: the coordinator on PostgreSQL keeps using it.
/// </summary>
public static class MigrateStoreCommand
{
    public sealed record Settings(string From, string To);

    public static async Task<int> RunAsync(Settings settings, TextWriter output)
    {
        if (settings.From.Trim().Length == 0) throw new StartupException("--from is empty: name the data directory to migrate");
        if (settings.To.Trim().Length == 0) throw new StartupException("--to is empty: give the PostgreSQL database (postgres://…)");
        var dir = new DataDirectory(settings.From);
        if (!File.Exists(dir.Database)) throw new StartupException($"--from {dir.Path}: there is no {LiteDbStore.FileName} to migrate");
        // Refused while a coordinator runs on the directory: it holds this lock, and would go on writing.
        using var held = dir.Lock();
        await using var from = OpenLite(dir.Database);
        await using var to = (PostgresStore)StoreSetting.OpenPostgres(settings.To);
        var before = to.CountPerTable(StoreCopy.Tables);
        var taken = before.Where(t => t.Value > 0).Select(t => $"{t.Key}: {t.Value}").ToList();
        if (taken.Count > 0)
            throw new StartupException($"refusing to migrate into {to.Display}: it is not empty ({string.Join(", ", taken)}); give an empty database");

        await StoreCopy.CopyAsync(from, from.NodesWithRuns(), to, output);

        var source = from.CountPerTable(StoreCopy.Tables);
        var target = to.CountPerTable(StoreCopy.Tables);
        var wrong = new List<string>();
        var width = StoreCopy.Tables.Max(t => t.Length);
        foreach (var table in StoreCopy.Tables)
        {
            await output.WriteLineAsync($"  {table.PadRight(width)} {source[table],8} → {target[table],8}");
            if (source[table] != target[table]) wrong.Add($"{table}: {source[table]} in {dir.Database}, {target[table]} in {to.Display}");
        }
        if (wrong.Count > 0)
            throw new StartupException($"the copy differs from its source ({string.Join("; ", wrong)}): drop the database's tables and migrate again");
        await output.WriteLineAsync($"Migrated {dir.Database} to {to.Display}: every table has as many rows as its source.");
        await output.WriteLineAsync($"Set `store: {Redacted(settings.To)}` in coordinator.yaml (or --store) and start the coordinator; {dir.Database} is left as it was.");
        return 0;
    }

    private static LiteDbStore OpenLite(string path)
    {
        try { return LiteDbStore.Open(path); }
        catch (IOException e) { throw new StartupException($"--from: {e.Message}"); }
    }

    private static string Redacted(string setting) => System.Text.RegularExpressions.Regex.Replace(setting, "://([^:/@]+):[^@]*@", "://$1:***@");
}
