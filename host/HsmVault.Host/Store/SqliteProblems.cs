using Microsoft.Data.Sqlite;

namespace HsmVault.Host.Store;

/// <summary>Says what a SQLite failure means for the store file, in words an operator can act on.</summary>
internal static class SqliteProblems
{
    // Primary result codes (https://www.sqlite.org/rescode.html); extended codes keep the primary one in the low byte.
    public static string Describe(SqliteException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return (exception.SqliteErrorCode & 0xFF) switch
        {
            26 => "is not a SQLite database: it is damaged, or some other kind of file",
            11 => "is damaged (the database is corrupt); restore it from a backup or a replica",
            14 => "cannot be opened: its directory is missing or not accessible",
            8 => "is read-only for this user",
            3 or 23 => "cannot be opened: permission denied",
            5 or 6 => "is locked by another process (is another host running on it?)",
            13 => "cannot be written: the disk is full",
            10 => "cannot be read or written (an I/O error on the disk)",
            _ => "cannot be used as a SQLite database",
        };
    }
}
