using System.Net.Sockets;
using Npgsql;

namespace HsmVault.Host.Store;

/// <summary>
/// Names a PostgreSQL store without its credentials, and says what a driver failure means for it
/// in words an operator can act on (no driver type names, no stack traces).
/// </summary>
internal static class PostgresProblems
{
    /// <summary>SQLSTATE serialization_failure: the transaction lost to a concurrent one and must be run again.</summary>
    public const string SerializationFailure = "40001";

    /// <summary>SQLSTATE deadlock_detected: likewise safe to run again.</summary>
    public const string DeadlockDetected = "40P01";

    /// <summary>SQLSTATE unique_violation: a primary key that is already there.</summary>
    public const string UniqueViolation = "23505";

    /// <summary>SQLSTATE duplicate_table: a concurrent CREATE TABLE IF NOT EXISTS won the race.</summary>
    public const string DuplicateTable = "42P07";

    /// <summary>
    /// <c>postgresql://host:port/database</c>: what logs and messages call the store. Built from
    /// the parsed connection string so the password (and every other setting) is never shown.
    /// </summary>
    public static string Name(NpgsqlConnectionStringBuilder settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        string database = settings.Database ?? settings.Username ?? Environment.UserName;
        return $"postgresql://{settings.Host}:{settings.Port}/{database}";
    }

    /// <summary>True when running the whole transaction again may succeed: it lost a conflict, not a fault.</summary>
    public static bool IsSerializationFailure(Exception exception) =>
        exception is PostgresException { SqlState: SerializationFailure or DeadlockDetected };

    /// <summary>What <paramref name="exception"/> means, to follow "the store NAME".</summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is PostgresException pg)
        {
            return pg.SqlState switch
            {
                "28P01" or "28000" => $"refused the login ({pg.MessageText}); check Username and the password (connection string or PGPASSWORD)",
                "3D000" => "does not exist on the server; create the database first",
                "42501" => $"refused a statement: permission denied ({pg.MessageText})",
                "53100" => "cannot be written: the database server's disk is full",
                "57P01" or "57P02" or "57P03" => "is shutting down or starting up; retrying",
                "53300" => "refuses connections: it has too many clients",
                _ when pg.SqlState.StartsWith("08", StringComparison.Ordinal) => $"lost its connection ({pg.MessageText})",
                _ => $"refused a statement ({pg.MessageText})",
            };
        }

        for (Exception? inner = exception; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return "cannot be reached (connection refused: is the server running and listening on that port?)";
                case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData }:
                    return "cannot be reached (the host name does not resolve)";
                case SocketException { SocketErrorCode: SocketError.TimedOut } or TimeoutException:
                    return "cannot be reached (no answer within the timeout; the connection string's Timeout sets it)";
                case SocketException socket:
                    return $"cannot be reached ({socket.Message})";
                case EndOfStreamException or IOException:
                    return "closed the connection (was the server stopped or restarted?)";
            }
        }

        return $"cannot be used ({exception.Message})";
    }

    /// <summary>The store-neutral exception for a driver failure on the store <paramref name="name"/>.</summary>
    public static StoreUnavailableException Unavailable(string name, Exception exception) =>
        new($"the store {name} {Describe(exception)}", exception);
}
