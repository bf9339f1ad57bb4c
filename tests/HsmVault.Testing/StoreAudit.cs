using System.Data;
using System.Data.Common;
using System.Globalization;
using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace HsmVault.Testing;

/// <summary>
/// Reads a host's store (a SQLite file or a PostgreSQL database) straight from its tables, in one
/// read transaction, and checks that it is whole: the tree under the stored root is complete, its
/// leaves are exactly the record rows (each record's value hash under its key), the node table
/// holds exactly the nodes the root reaches, and the stored record count is the rows'. A commit
/// cut in half, a node deleted too early or kept too long shows here.
/// </summary>
public static class StoreAudit
{
    /// <summary>What the store holds and every way it is not whole (none: it is).</summary>
    public sealed record Result(long Records, long LogEntries, long NodeRows, long Reachable, IReadOnlyList<string> Problems)
    {
        public override string ToString()
        {
            string verdict = Problems.Count == 0 ? "whole" : $"{Problems.Count} problems: {string.Join("; ", Problems.Take(5))}";
            return string.Create(CultureInfo.InvariantCulture, $"{Records} records, {LogEntries} log entries, {NodeRows} Merkle node rows of which the root reaches {Reachable}; {verdict}");
        }
    }

    public static Result Check(string location, bool postgres)
    {
        ArgumentException.ThrowIfNullOrEmpty(location);
        using DbConnection connection = postgres
            ? new NpgsqlConnection(location)
            : new SqliteConnection($"Data Source={location};Mode=ReadOnly;Pooling=False");
        connection.Open();
        // One snapshot for every table, while the hosts may go on committing: a deferred SQLite
        // transaction (the file is opened read-only), PostgreSQL's repeatable read.
        using DbTransaction transaction = connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: true)
            : connection.BeginTransaction(IsolationLevel.RepeatableRead);
        byte[] root = [];
        long counted = 0;
        Read(connection, transaction, "SELECT merkle_root, record_count FROM store_state WHERE id = 1", row =>
        {
            root = (byte[])row.GetValue(0);
            counted = row.GetInt64(1);
        });
        var nodes = new InMemoryMerkleNodeStore();
        long rows = 0;
        Read(connection, transaction, "SELECT hash, kind, a, b FROM merkle_nodes", row =>
        {
            rows++;
            byte[] a = (byte[])row.GetValue(2);
            byte[] b = (byte[])row.GetValue(3);
            nodes.Put((byte[])row.GetValue(0), Convert.ToInt64(row.GetValue(1), CultureInfo.InvariantCulture) == 0 ? new MerkleLeafNode(a, b) : new MerkleInteriorNode(a, b));
        });
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        Read(connection, transaction, "SELECT key, version, ciphertext FROM records", row =>
        {
            var record = new SealedRecord { Version = unchecked((ulong)row.GetInt64(1)), Ciphertext = ByteString.CopyFrom((byte[])row.GetValue(2)) };
            records[Convert.ToHexString((byte[])row.GetValue(0))] = MerkleHashing.RecordValueHash(record);
        });
        long entries = 0;
        Read(connection, transaction, "SELECT COUNT(*) FROM log_entries", row => entries = row.GetInt64(0));
        transaction.Commit();

        var problems = new List<string>();
        if (counted != records.Count)
        {
            problems.Add($"store_state.record_count is {counted}, the records table holds {records.Count}");
        }

        (long reachable, Dictionary<string, byte[]> leaves) = MerkleCensus.Walk(nodes, root, problems);
        if (reachable != rows && problems.Count == 0)
        {
            problems.Add($"{rows - reachable} node rows the root does not reach (old nodes not deleted)");
        }

        foreach ((string key, byte[] valueHash) in records)
        {
            if (!leaves.TryGetValue(key, out byte[]? inTree))
            {
                problems.Add($"record {key[..16]}… is not in the tree");
            }
            else if (!inTree.AsSpan().SequenceEqual(valueHash))
            {
                problems.Add($"record {key[..16]}… is not the one the tree holds (a record or its leaf half-written)");
            }
        }

        problems.AddRange(leaves.Keys.Where(key => !records.ContainsKey(key)).Select(key => $"the tree holds {key[..16]}…, the records table does not"));
        return new Result(records.Count, entries, rows, reachable, problems);
    }

    private static void Read(DbConnection connection, DbTransaction transaction, string sql, Action<DbDataReader> row)
    {
        using DbCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        using DbDataReader reader = command.ExecuteReader();
        while (reader.Read())
        {
            row(reader);
        }
    }
}
