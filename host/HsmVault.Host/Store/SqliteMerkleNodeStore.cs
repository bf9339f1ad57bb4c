using HsmVault.Protocol.Merkle;
using Microsoft.Data.Sqlite;

namespace HsmVault.Host.Store;

/// <summary>
/// Merkle nodes in the SQLite table <c>merkle_nodes(hash, kind, a, b)</c>: a leaf keeps its key
/// and value hash, an interior node its two child hashes (<see cref="MerkleNodeRows"/>). Nodes are
/// content-addressed, so a second put of the same hash is ignored, and a node read once can be
/// cached for good: the same hash always names the same node.
/// </summary>
public sealed class SqliteMerkleNodeStore : IMerkleNodeStore
{
    private readonly SqliteConnection _connection;
    private readonly MerkleNodeCache _cache;

    public SqliteMerkleNodeStore(SqliteConnection connection, int cacheCapacity = 100_000)
    {
        _cache = new MerkleNodeCache(cacheCapacity);
        _connection = connection ?? throw new ArgumentNullException(nameof(connection));
    }

    /// <summary>Creates the table when it is missing.</summary>
    public static void CreateSchema(SqliteConnection connection, SqliteTransaction? transaction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "CREATE TABLE IF NOT EXISTS merkle_nodes (hash BLOB PRIMARY KEY, kind INTEGER NOT NULL, a BLOB NOT NULL, b BLOB NOT NULL) WITHOUT ROWID;";
        command.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node)
    {
        byte[] key = hash.ToArray();
        if (_cache.TryGet(key, out node))
        {
            return true;
        }

        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = "SELECT kind, a, b FROM merkle_nodes WHERE hash = $hash;";
        command.Parameters.AddWithValue("$hash", key);
        using SqliteDataReader reader = command.ExecuteReader();
        if (!reader.Read())
        {
            node = null!;
            return false;
        }

        node = MerkleNodeRows.FromRow(reader.GetInt64(0), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2));
        _cache.Add(key, node);
        return true;
    }

    /// <inheritdoc />
    public void Put(byte[] hash, MerkleNode node)
    {
        using SqliteCommand insert = CreateInsertCommand(_connection, null);
        Insert(insert, hash, node);
    }

    /// <summary>
    /// A prepared node insert, inside <paramref name="transaction"/> when given. A commit writes
    /// a few dozen nodes; one prepared statement for all of them spares SQLite parsing the same
    /// SQL each time.
    /// </summary>
    internal static SqliteCommand CreateInsertCommand(SqliteConnection connection, SqliteTransaction? transaction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT OR IGNORE INTO merkle_nodes (hash, kind, a, b) VALUES ($hash, $kind, $a, $b);";
        command.Parameters.Add("$hash", SqliteType.Blob);
        command.Parameters.Add("$kind", SqliteType.Integer);
        command.Parameters.Add("$a", SqliteType.Blob);
        command.Parameters.Add("$b", SqliteType.Blob);
        command.Prepare();
        return command;
    }

    /// <summary>A prepared delete of one node by its hash (parameter 0), inside <paramref name="transaction"/>.</summary>
    internal static SqliteCommand CreateDeleteCommand(SqliteConnection connection, SqliteTransaction transaction)
    {
        SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "DELETE FROM merkle_nodes WHERE hash = $hash;";
        command.Parameters.Add("$hash", SqliteType.Blob);
        command.Prepare();
        return command;
    }

    /// <summary>Inserts one node with a command from <see cref="CreateInsertCommand"/>.</summary>
    internal static void Insert(SqliteCommand insert, byte[] hash, MerkleNode node)
    {
        ArgumentNullException.ThrowIfNull(insert);
        ArgumentNullException.ThrowIfNull(hash);
        (short kind, byte[] a, byte[] b) = MerkleNodeRows.ToRow(node);
        insert.Parameters[0].Value = hash;
        insert.Parameters[1].Value = (long)kind;
        insert.Parameters[2].Value = a;
        insert.Parameters[3].Value = b;
        insert.ExecuteNonQuery();
    }
}
