using NodeFleet.Coordinator.Store;
using NodeFleet.Coordinator.Store.Postgres;

namespace NodeFleet.Coordinator.Hosting;

/// <summary>
/// The `store` setting (coordinator.yaml `store:`, NODEFLEET_STORE, --store): which store a coordinator opens, and every
/// failure to open it as one line that names the setting and never the password.
/// </summary>
public static class StoreSetting
{
    /// <summary>Whether <paramref name="setting"/> names PostgreSQL; "" and "litedb" name the LiteDB file in the data directory.</summary>
    public static bool IsPostgres(string setting) =>
        setting.Trim() is { Length: > 0 } s && !s.Equals("litedb", StringComparison.OrdinalIgnoreCase);

    /// <summary>Refuses a setting that is neither, or a PostgreSQL one that cannot be read (without connecting).</summary>
    public static void Check(string setting)
    {
        if (!IsPostgres(setting)) return;
        // Whatever is wrong, the value is not echoed: it may hold a password.
        if (!PostgresConnection.IsPostgres(setting))
            throw new StartupException(
                "store: not a postgres:// URL nor a key=value connection string (leave it empty for the LiteDB file in the data directory)");
        try { PostgresConnection.Parse(setting); }
        catch (FormatException e) { throw new StartupException($"store: {e.Message}"); }
        catch (IOException e) { throw new StartupException($"store: {e.Message}"); }
    }

    /// <summary>Connects to PostgreSQL and migrates its schema; a failure is a StartupException naming the setting.</summary>
    public static ICoordinatorStore OpenPostgres(string setting, TimeProvider? leaseClock = null)
    {
        try { return PostgresStore.OpenAsync(setting, leaseClock).GetAwaiter().GetResult(); }
        catch (FormatException e) { throw new StartupException($"store: {e.Message}"); }
        catch (IOException e) { throw new StartupException($"store: {e.Message}"); }
        catch (InvalidDataException e) { throw new StartupException($"store: {e.Message}"); }
    }
}
