using System.Data.Common;
using Npgsql;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// The `store` setting for PostgreSQL, in either of two forms: a URL, postgres://USER[:PASSWORD]@HOST[:PORT][,HOST2…]/DB
/// with libpq's query parameters (sslmode, sslrootcert, sslcert, sslkey, passfile, connect_timeout, application_name,
/// host) and password_file; or an Npgsql key=value string (Host=…;Username=…;Passfile=…), which may also carry a
/// "Password File" key. A password file holds the password alone (a mounted secret); a passfile is libpq's pgpass
/// format (host:port:db:user:password lines). Text shown to an operator never holds the password.
/// </summary>
public sealed class PostgresConnection
{
    /// <summary>The key our key=value form adds to Npgsql's: a file that holds the password alone.</summary>
    public const string PasswordFileKey = "Password File";

    private PostgresConnection(NpgsqlConnectionStringBuilder builder, string display)
    {
        Builder = builder;
        Display = display;
    }

    internal NpgsqlConnectionStringBuilder Builder { get; }

    /// <summary>The setting as an operator may see it: the password (inline) left out.</summary>
    public string Display { get; }

    /// <summary>Whether <paramref name="setting"/> has the shape of one (a URL, to be checked by <see cref="Parse"/>, or key=value).</summary>
    public static bool IsPostgres(string setting) => setting.Contains("://", StringComparison.Ordinal) || setting.Contains('=');

    /// <summary>Parses the setting and reads a password file it names; a failure is a FormatException or an IOException whose message holds no password.</summary>
    public static PostgresConnection Parse(string setting)
    {
        var s = setting.Trim();
        var builder = s.Contains("://", StringComparison.Ordinal) ? FromUrl(s) : FromKeyValues(s);
        if (string.IsNullOrEmpty(builder.Host)) throw new FormatException("no host is named");
        builder.ApplicationName ??= "nodefleet-coordinator";
        // No password ever appears in an error or the log.
        builder.PersistSecurityInfo = false;
        builder.IncludeErrorDetail = false;
        // The coordinator leaves no session state on a pooled connection (the outbox's LISTEN connection UNLISTENs before
        // it goes back): returning one need not cost a DISCARD ALL, which was a round trip and a statement per write.
        builder.NoResetOnClose = true;
        // The same few statements run for every report: prepared on each connection after their second use, PostgreSQL
        // parses and plans them once instead of every time.
        if (!NamesAutoPrepare(s))
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }
        return new PostgresConnection(builder, Describe(builder));
    }

    /// <summary>Whether a key=value setting gives Max Auto Prepare itself (0 turns preparing off).</summary>
    private static bool NamesAutoPrepare(string setting)
    {
        if (setting.Contains("://", StringComparison.Ordinal)) return false;
        // Read with the same parser as FromKeyValues (quoted values may hold ';' or '=').
        var parsed = new DbConnectionStringBuilder { ConnectionString = setting };
        return parsed.Keys.Cast<string>().Any(k =>
            k.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Text that names where the store is, for messages: postgres://user@host:port/db.</summary>
    private static string Describe(NpgsqlConnectionStringBuilder b)
    {
        var user = string.IsNullOrEmpty(b.Username) ? "" : Uri.EscapeDataString(b.Username) + "@";
        var host = b.Host!.Contains(',') || b.Host.StartsWith('/') ? b.Host
            : b.Host.Contains(':') ? $"[{b.Host}]:{b.Port}" : $"{b.Host}:{b.Port}";
        return $"postgres://{user}{host}/{b.Database ?? b.Username}";
    }

    private static NpgsqlConnectionStringBuilder FromUrl(string url)
    {
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (url[..scheme].ToLowerInvariant() is not ("postgres" or "postgresql"))
            throw new FormatException($"'{url[..scheme]}://' is not postgres:// or postgresql://");
        var rest = url[(scheme + 3)..];
        var query = "";
        if (rest.IndexOf('?') is var q and >= 0) (rest, query) = (rest[..q], rest[(q + 1)..]);
        var database = "";
        if (rest.IndexOf('/') is var slash and >= 0) (rest, database) = (rest[..slash], Uri.UnescapeDataString(rest[(slash + 1)..]));
        var b = new NpgsqlConnectionStringBuilder();
        if (rest.LastIndexOf('@') is var at and >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            var colon = userInfo.IndexOf(':');
            b.Username = Uri.UnescapeDataString(colon >= 0 ? userInfo[..colon] : userInfo);
            if (colon >= 0) b.Password = Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        }
        SetHosts(b, Uri.UnescapeDataString(rest));
        if (database.Length > 0) b.Database = database;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(eq >= 0 ? pair[..eq] : pair);
            var value = eq >= 0 ? Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' ')) : "";
            SetQueryParameter(b, key, value);
        }
        return b;
    }

    private static void SetHosts(NpgsqlConnectionStringBuilder b, string hosts)
    {
        if (hosts.Length == 0) return;
        // One host: its port apart (an IPv6 address in brackets); several: Npgsql takes host:port,host:port as they are.
        if (hosts.Contains(',') || hosts.StartsWith('/'))
        {
            b.Host = hosts;
            return;
        }
        var close = hosts.StartsWith('[') ? hosts.IndexOf(']') : -1;
        var colon = hosts.LastIndexOf(':');
        if (colon > close && (close >= 0 || hosts.IndexOf(':') == colon))
        {
            if (!int.TryParse(hosts[(colon + 1)..], out var port) || port is < 1 or > 65535)
                throw new FormatException($"port '{hosts[(colon + 1)..]}' is not a number from 1 to 65535");
            b.Port = port;
            hosts = hosts[..colon];
        }
        b.Host = hosts.Trim('[', ']');
    }

    private static void SetQueryParameter(NpgsqlConnectionStringBuilder b, string key, string value)
    {
        switch (key.ToLowerInvariant())
        {
            case "sslmode":
                b.SslMode = value.ToLowerInvariant() switch
                {
                    "disable" => SslMode.Disable,
                    "allow" => SslMode.Allow,
                    "prefer" => SslMode.Prefer,
                    "require" => SslMode.Require,
                    "verify-ca" => SslMode.VerifyCA,
                    "verify-full" => SslMode.VerifyFull,
                    _ => throw new FormatException($"sslmode '{value}' is not one of: disable, allow, prefer, require, verify-ca, verify-full"),
                };
                break;
            case "sslrootcert": b.RootCertificate = value; break;
            case "sslcert": b.SslCertificate = value; break;
            case "sslkey": b.SslKey = value; break;
            case "passfile": b.Passfile = value; break;
            case "password_file": b.Password = ReadPasswordFile(value); break;
            case "application_name": b.ApplicationName = value; break;
            case "host": SetHosts(b, value); break;
            case "port":
                if (!int.TryParse(value, out var port) || port is < 1 or > 65535) throw new FormatException($"port '{value}' is not a number from 1 to 65535");
                b.Port = port;
                break;
            case "connect_timeout":
                if (!int.TryParse(value, out var seconds) || seconds < 0) throw new FormatException($"connect_timeout '{value}' is not a number of seconds");
                b.Timeout = seconds;
                break;
            default:
                throw new FormatException(
                    $"unknown parameter '{key}' (known: sslmode, sslrootcert, sslcert, sslkey, passfile, password_file, application_name, host, port, connect_timeout)");
        }
    }

    private static NpgsqlConnectionStringBuilder FromKeyValues(string text)
    {
        var parsed = new DbConnectionStringBuilder();
        try { parsed.ConnectionString = text; }
        catch (ArgumentException) { throw new FormatException("it is neither a postgres:// URL nor a key=value;key=value connection string"); }
        string? passwordFile = null;
        foreach (var key in new[] { PasswordFileKey, "PasswordFile", "password_file" })
        {
            if (parsed.TryGetValue(key, out var v))
            {
                passwordFile = v?.ToString();
                parsed.Remove(key);
            }
        }
        var b = new NpgsqlConnectionStringBuilder();
        foreach (string key in parsed.Keys)
        {
            // Npgsql's own messages for an unknown key or a bad value quote only the key.
            try { b[key] = parsed[key]; }
            catch (ArgumentException) { throw new FormatException($"'{key}' is not a key of an Npgsql connection string, or its value is not valid"); }
        }
        if (passwordFile is not null) b.Password = ReadPasswordFile(passwordFile);
        return b;
    }

    private static string ReadPasswordFile(string path)
    {
        if (path.Length == 0) throw new FormatException("password_file is empty");
        try
        {
            // The file holds the password alone; the line end an editor adds is not part of it.
            return File.ReadAllText(path).TrimEnd('\r', '\n');
        }
        catch (FileNotFoundException) { throw new IOException($"password file {path} does not exist"); }
        catch (DirectoryNotFoundException) { throw new IOException($"password file {path} does not exist"); }
        catch (UnauthorizedAccessException) { throw new IOException($"cannot read password file {path}: permission denied"); }
    }
}
