using System.Globalization;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Testing;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace HsmVault.Benchmarks;

/// <summary>
/// What a store holds after a run: records, log entries, rows of merkle_nodes, and how many of those
/// rows the current root reaches (the rest would be old nodes the host failed to delete).
/// </summary>
internal static class StoreCensus
{
    public static string Describe(string location, bool postgres)
    {
        try
        {
            (long records, long entries, long rows) = postgres ? CountPostgres(location) : CountSqlite(location);
            using IVaultStore store = postgres ? PostgresVaultStore.Open(location) : SqliteVaultStore.Open(location);
            long live = MerkleCensus.Reachable(store.Nodes, store.State.MerkleRoot);
            string size = postgres ? "" : string.Create(CultureInfo.InvariantCulture, $", {FileMegabytes(location):F1} MB on disk with its WAL");
            return string.Create(CultureInfo.InvariantCulture,
                $"{records} records, {entries} log entries, {rows} Merkle node rows of which the root reaches {live} ({rows - live} not reached){size}");
        }
        catch (Exception ex) when (ex is SqliteException or NpgsqlException or IOException or StoreUnavailableException or MerkleProofException)
        {
            return $"not read ({ex.GetType().Name}: {ex.Message})";
        }
    }

    private static (long, long, long) CountSqlite(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        return (Count(connection, "records"), Count(connection, "log_entries"), Count(connection, "merkle_nodes"));

        static long Count(SqliteConnection connection, string table)
        {
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = $"SELECT COUNT(*) FROM {table};";
            return (long)command.ExecuteScalar()!;
        }
    }

    private static (long, long, long) CountPostgres(string connectionString)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        return (Count(connection, "records"), Count(connection, "log_entries"), Count(connection, "merkle_nodes"));

        static long Count(NpgsqlConnection connection, string table)
        {
            using var command = new NpgsqlCommand($"SELECT COUNT(*) FROM {table}", connection);
            return (long)command.ExecuteScalar()!;
        }
    }

    private static double FileMegabytes(string path) =>
        new[] { path, path + "-wal" }.Where(File.Exists).Sum(p => new FileInfo(p).Length) / (1024.0 * 1024.0);
}
