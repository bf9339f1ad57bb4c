using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using Microsoft.Data.Sqlite;

namespace HsmVault.Host.Store;

/// <summary>
/// The default <see cref="IVaultStore"/>: one SQLite file in WAL mode with synchronous=FULL, so a
/// commit has reached the disk when <see cref="Commit"/> returns. Each batch is one transaction.
/// Single writer: the pipeline owns it.
/// </summary>
public sealed class SqliteVaultStore : IVaultStore
{
    private const int SchemaVersion = 1;

    private readonly SqliteConnection _connection;
    private readonly SqliteMerkleNodeStore _nodes;
    private readonly string _path;
    private VaultStoreState _state;

    private SqliteVaultStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        _path = path;
        _nodes = new SqliteMerkleNodeStore(connection);
        _state = ReadState(connection, path);
    }

    /// <summary>
    /// Opens (creating if needed) the store at <paramref name="path"/>. Throws
    /// <see cref="StoreUnreadableException"/>, naming the file, when it cannot be opened or is not a host store.
    /// </summary>
    public static SqliteVaultStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        try
        {
            return OpenOrThrow(path);
        }
        catch (SqliteException ex)
        {
            throw new StoreUnreadableException(path, SqliteProblems.Describe(ex), ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnreadableException(path, $"cannot be created or opened ({ex.Message})", ex);
        }
    }

    private static SqliteVaultStore OpenOrThrow(string path)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            Execute(connection, null, "PRAGMA journal_mode=WAL;");
            Execute(connection, null, "PRAGMA synchronous=FULL;");
            Execute(connection, null, "PRAGMA foreign_keys=ON;");
            using (SqliteTransaction schema = connection.BeginTransaction())
            {
                Execute(connection, schema, """
                    CREATE TABLE IF NOT EXISTS store_state (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        schema_version INTEGER NOT NULL,
                        log_index INTEGER NOT NULL,
                        merkle_root BLOB NOT NULL,
                        entry_mac BLOB NOT NULL,
                        record_count INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS records (
                        key BLOB PRIMARY KEY,
                        user_id BLOB NOT NULL,
                        version INTEGER NOT NULL,
                        ciphertext BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS log_entries (
                        log_index INTEGER PRIMARY KEY,
                        entry BLOB NOT NULL);
                    CREATE TABLE IF NOT EXISTS fleet_values (
                        name TEXT PRIMARY KEY,
                        value BLOB NOT NULL) WITHOUT ROWID;
                    """);
                SqliteMerkleNodeStore.CreateSchema(connection, schema);
                using SqliteCommand seed = connection.CreateCommand();
                seed.Transaction = schema;
                seed.CommandText = "INSERT OR IGNORE INTO store_state VALUES (1, $version, 0, $root, x'', 0);";
                seed.Parameters.AddWithValue("$version", SchemaVersion);
                seed.Parameters.AddWithValue("$root", MerkleHashing.Empty.ToArray());
                seed.ExecuteNonQuery();
                schema.Commit();
            }

            return new SqliteVaultStore(connection, path);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public VaultStoreState State => Volatile.Read(ref _state);

    /// <inheritdoc />
    public IMerkleNodeStore Nodes => _nodes;

    /// <inheritdoc />
    public SealedRecord? FindRecord(ReadOnlySpan<byte> key)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = "SELECT version, ciphertext FROM records WHERE key = $key;";
        command.Parameters.AddWithValue("$key", key.ToArray());
        using SqliteDataReader reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        return new SealedRecord
        {
            Version = unchecked((ulong)reader.GetInt64(0)),
            Ciphertext = ByteString.CopyFrom((byte[])reader.GetValue(1)),
        };
    }

    /// <inheritdoc />
    public LogEntry? FindLogEntry(ulong index)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = "SELECT entry FROM log_entries WHERE log_index = $index;";
        command.Parameters.AddWithValue("$index", unchecked((long)index));
        object? value = command.ExecuteScalar();
        return value is byte[] bytes ? LogEntry.Parser.ParseFrom(bytes) : null;
    }

    /// <inheritdoc />
    public void Commit(VaultCommit commit)
    {
        ArgumentNullException.ThrowIfNull(commit);
        VaultStoreState state = State;
        if (StoreConflicts.Check(commit.Entry, state.LogIndex, state.EntryMac) is { } conflict)
        {
            throw new StoreConflictException(conflict);
        }

        try
        {
            CommitOrThrow(commit, state);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode != 19)
        {
            // The pipeline sees a store-neutral failure; the driver's code stays on the inner exception.
            throw new StoreUnavailableException($"the store {_path} {SqliteProblems.Describe(ex)}", ex);
        }
    }

    private void CommitOrThrow(VaultCommit commit, VaultStoreState state)
    {

        long recordCount = state.RecordCount;
        using SqliteTransaction transaction = _connection.BeginTransaction();
        using (SqliteCommand append = _connection.CreateCommand())
        {
            // The primary key makes the append conditional: a second writer of the same index loses.
            append.Transaction = transaction;
            append.CommandText = "INSERT INTO log_entries (log_index, entry) VALUES ($index, $entry);";
            append.Parameters.AddWithValue("$index", unchecked((long)commit.Entry.Index));
            append.Parameters.AddWithValue("$entry", commit.Entry.ToByteArray());
            try
            {
                append.ExecuteNonQuery();
            }
            catch (SqliteException ex) when (ex.SqliteErrorCode == 19)
            {
                throw new StoreConflictException($"log_entry.index: {commit.Entry.Index} is already in the log");
            }
        }

        CrashPoints.Maybe(CrashPoints.MidStore);
        if (commit.Writes.Count > 0)
        {
            using RecordWriter writer = new(_connection, transaction);
            foreach (RecordWrite write in commit.Writes)
            {
                recordCount += writer.Apply(write);
            }
        }

        using (SqliteCommand insertNode = SqliteMerkleNodeStore.CreateInsertCommand(_connection, transaction))
        {
            foreach ((byte[] hash, MerkleNode node) in commit.Nodes)
            {
                SqliteMerkleNodeStore.Insert(insertNode, hash, node);
            }
        }

        if (commit.Obsolete.Count > 0)
        {
            using SqliteCommand deleteNode = SqliteMerkleNodeStore.CreateDeleteCommand(_connection, transaction);
            foreach (byte[] hash in commit.Obsolete)
            {
                deleteNode.Parameters[0].Value = hash;
                deleteNode.ExecuteNonQuery();
            }
        }

        using (SqliteCommand update = _connection.CreateCommand())
        {
            update.Transaction = transaction;
            update.CommandText = "UPDATE store_state SET log_index = $index, merkle_root = $root, entry_mac = $mac, record_count = $count WHERE id = 1;";
            update.Parameters.AddWithValue("$index", unchecked((long)commit.Entry.Index));
            update.Parameters.AddWithValue("$root", commit.Entry.MerkleRoot.ToByteArray());
            update.Parameters.AddWithValue("$mac", commit.Entry.Mac.ToByteArray());
            update.Parameters.AddWithValue("$count", recordCount);
            update.ExecuteNonQuery();
        }

        transaction.Commit();
        Volatile.Write(ref _state, new VaultStoreState(commit.Entry.Index, commit.Entry.MerkleRoot.ToByteArray(), commit.Entry.Mac.ToByteArray(), recordCount));
    }

    /// <inheritdoc />
    public string? CheckHealth()
    {
        // The connection keeps working on a deleted file, whose commits would then be lost on restart.
        if (!File.Exists(_path))
        {
            return $"the store {_path} no longer exists (deleted or moved while the host runs)";
        }

        try
        {
            VaultStoreState onDisk = ReadState(_connection, _path);
            VaultStoreState held = State;
            return onDisk.LogIndex == held.LogIndex
                ? null
                : $"the store {_path} changed under the host (log index {onDisk.LogIndex} on disk, {held.LogIndex} committed by this host)";
        }
        catch (SqliteException ex)
        {
            return $"the store {_path} {SqliteProblems.Describe(ex)}";
        }
        catch (StoreUnreadableException ex)
        {
            return ex.Message;
        }
    }

    /// <inheritdoc />
    public void Refresh() => Volatile.Write(ref _state, Guarded(() => ReadState(_connection, _path)));

    /// <inheritdoc />
    public byte[]? ReadFleetValue(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Guarded(() =>
        {
            using SqliteCommand command = _connection.CreateCommand();
            command.CommandText = "SELECT value FROM fleet_values WHERE name = $name;";
            command.Parameters.AddWithValue("$name", name);
            return command.ExecuteScalar() as byte[];
        });
    }

    /// <inheritdoc />
    public bool CompareAndSetFleetValue(string name, byte[]? expected, byte[] value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        return Guarded(() =>
        {
            using SqliteCommand command = _connection.CreateCommand();
            command.CommandText = expected is null
                ? "INSERT INTO fleet_values (name, value) VALUES ($name, $value) ON CONFLICT (name) DO NOTHING;"
                : "UPDATE fleet_values SET value = $value WHERE name = $name AND value = $expected;";
            command.Parameters.AddWithValue("$name", name);
            command.Parameters.AddWithValue("$value", value);
            if (expected is not null)
            {
                command.Parameters.AddWithValue("$expected", expected);
            }

            return command.ExecuteNonQuery() == 1;
        });
    }

    // The callers see a store-neutral failure; the driver's code stays on the inner exception.
    private T Guarded<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"the store {_path} {SqliteProblems.Describe(ex)}", ex);
        }
    }

    public void Dispose() => _connection.Dispose();

    /// <summary>
    /// The record statements of one commit, each prepared once and reused for every write in it.
    /// Apply returns how the record count changes: +1 for a new record, -1 for a removed one.
    /// </summary>
    private sealed class RecordWriter : IDisposable
    {
        private readonly SqliteCommand _delete;
        private readonly SqliteCommand _exists;
        private readonly SqliteCommand _upsert;

        public RecordWriter(SqliteConnection connection, SqliteTransaction transaction)
        {
            _delete = Prepare(connection, transaction, "DELETE FROM records WHERE key = $key;", ("$key", SqliteType.Blob));
            _exists = Prepare(connection, transaction, "SELECT COUNT(*) FROM records WHERE key = $key;", ("$key", SqliteType.Blob));
            _upsert = Prepare(
                connection,
                transaction,
                """
                INSERT INTO records (key, user_id, version, ciphertext) VALUES ($key, $user, $version, $ciphertext)
                ON CONFLICT (key) DO UPDATE SET user_id = excluded.user_id, version = excluded.version, ciphertext = excluded.ciphertext;
                """,
                ("$key", SqliteType.Blob),
                ("$user", SqliteType.Blob),
                ("$version", SqliteType.Integer),
                ("$ciphertext", SqliteType.Blob));
        }

        public int Apply(RecordWrite write)
        {
            byte[] key = write.Key.ToByteArray();
            if (write.Record is null)
            {
                _delete.Parameters[0].Value = key;
                return -_delete.ExecuteNonQuery();
            }

            _exists.Parameters[0].Value = key;
            bool existed = (long)_exists.ExecuteScalar()! > 0;
            _upsert.Parameters[0].Value = key;
            _upsert.Parameters[1].Value = write.UserId.ToByteArray();
            _upsert.Parameters[2].Value = unchecked((long)write.Record.Version);
            _upsert.Parameters[3].Value = write.Record.Ciphertext.ToByteArray();
            _upsert.ExecuteNonQuery();
            return existed ? 0 : 1;
        }

        public void Dispose()
        {
            _delete.Dispose();
            _exists.Dispose();
            _upsert.Dispose();
        }

        private static SqliteCommand Prepare(SqliteConnection connection, SqliteTransaction transaction, string sql, params (string Name, SqliteType Type)[] parameters)
        {
            SqliteCommand command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach ((string name, SqliteType type) in parameters)
            {
                command.Parameters.Add(name, type);
            }

            command.Prepare();
            return command;
        }
    }

    private static VaultStoreState ReadState(SqliteConnection connection, string path)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT schema_version, log_index, merkle_root, entry_mac, record_count FROM store_state WHERE id = 1;";
        using SqliteDataReader reader = command.ExecuteReader();
        if (!reader.Read())
        {
            throw new StoreUnreadableException(path, "is not a HsmVault host store (its store_state row is missing)");
        }

        long version = reader.GetInt64(0);
        if (version != SchemaVersion)
        {
            throw new StoreUnreadableException(path, $"has store schema version {version}; this host reads version {SchemaVersion}");
        }

        return new VaultStoreState(
            unchecked((ulong)reader.GetInt64(1)),
            (byte[])reader.GetValue(2),
            (byte[])reader.GetValue(3),
            reader.GetInt64(4));
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
