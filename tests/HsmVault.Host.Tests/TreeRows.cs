namespace HsmVault.Host.Tests;

/// <summary>The rows a SQLite store's merkle_nodes table holds (what its root reaches: <see cref="HsmVault.Testing.MerkleCensus"/>).</summary>
internal static class TreeRows
{
    /// <summary>The rows of merkle_nodes in the SQLite store at <paramref name="path"/>, read on a connection of its own.</summary>
    public static long CountSqlite(string path)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using Microsoft.Data.Sqlite.SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM merkle_nodes;";
        return (long)command.ExecuteScalar()!;
    }
}
