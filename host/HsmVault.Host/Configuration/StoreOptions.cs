using Npgsql;

namespace HsmVault.Host.Configuration;

/// <summary>Where the host keeps sealed records, Merkle nodes and the log: configuration section <c>Store</c>.</summary>
public sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary>The embedded default: one SQLite file on this machine.</summary>
    public const string SqliteKind = "sqlite";

    /// <summary>A PostgreSQL database (or CockroachDB / YugabyteDB) that hosts in different places can share.</summary>
    public const string PostgresKind = "postgres";

    /// <summary>Which store: <c>sqlite</c> (the default) or <c>postgres</c>.</summary>
    public string Kind { get; set; } = SqliteKind;

    /// <summary>The SQLite database file; created on first start. Used when <see cref="Kind"/> is sqlite.</summary>
    public string Path { get; set; } = "hsmvault-host.db";

    /// <summary>
    /// The Npgsql connection string of the PostgreSQL database, e.g.
    /// <c>Host=db1;Port=5432;Database=hsmvault;Username=hsmvault</c>. The password goes in here or in
    /// the PGPASSWORD environment variable; it is never logged. Used when <see cref="Kind"/> is postgres.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>True for the PostgreSQL store.</summary>
    public bool IsPostgres => string.Equals(Kind?.Trim(), PostgresKind, StringComparison.OrdinalIgnoreCase);

    /// <summary>The problems with these settings, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        List<string> problems = [];
        if (IsPostgres)
        {
            if (string.IsNullOrWhiteSpace(ConnectionString))
            {
                problems.Add("Store:ConnectionString: missing; give the PostgreSQL database, e.g. Host=db1;Database=hsmvault;Username=hsmvault");
            }
            else if (ConnectionStringProblem(ConnectionString) is { } problem)
            {
                problems.Add("Store:ConnectionString: " + problem);
            }
        }
        else if (string.Equals(Kind?.Trim(), SqliteKind, StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrWhiteSpace(Path))
            {
                problems.Add("Store:Path: missing; give the SQLite database file");
            }

            if (!string.IsNullOrWhiteSpace(ConnectionString))
            {
                problems.Add("Store:ConnectionString: only used with Store:Kind=postgres; remove it or set Store:Kind=postgres");
            }
        }
        else
        {
            problems.Add($"Store:Kind: '{Kind}' is not a store; use {SqliteKind} (one machine, the default) or {PostgresKind}");
        }

        return problems;
    }

    // The value itself is never repeated: it may hold the password.
    private static string? ConnectionStringProblem(string connectionString)
    {
        NpgsqlConnectionStringBuilder settings;
        try
        {
            settings = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            return $"not a valid connection string ({ex.Message.TrimEnd('.')}); write Key=value pairs separated by ';'";
        }

        return string.IsNullOrWhiteSpace(settings.Host)
            ? "names no Host; write e.g. Host=db1;Database=hsmvault;Username=hsmvault"
            : null;
    }
}
