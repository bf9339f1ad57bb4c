using System.Data;
using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using Npgsql;
using NpgsqlTypes;

namespace HsmVault.Host.Store;

/// <summary>
/// An <see cref="IVaultStore"/> in a PostgreSQL database, for hosts in different places that share
/// one store. It uses only SQL that the PostgreSQL-compatible distributed engines (CockroachDB,
/// YugabyteDB) run too: BYTEA and BIGINT columns, primary keys, <c>ON CONFLICT (primary key)</c>,
/// <c>SELECT ... FOR UPDATE</c> and SERIALIZABLE transactions, run again on a serialization failure
/// (CockroachDB reports every lost race that way). Each commit is one transaction that reads the
/// last entry back from the database, so of two hosts appending the same index the first wins and
/// the other gets <see cref="StoreConflictException"/>.
/// </summary>
public sealed class PostgresVaultStore : IVaultStore
{
    private const int SchemaVersion = 1;

    // A lost serialization race is re-run; losing this many in a row means something is wrong.
    private const int MaxSerializationAttempts = 10;

    // A dropped connection is retried on a fresh one from the pool, briefly: the health probe does the long waiting.
    private const int MaxConnectionAttempts = 3;

    // Each statement is its own implicit transaction: CockroachDB does not mix schema changes and writes in one.
    private static readonly string[] SchemaStatements =
    [
        """
        CREATE TABLE IF NOT EXISTS store_state (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            schema_version BIGINT NOT NULL,
            log_index BIGINT NOT NULL,
            merkle_root BYTEA NOT NULL,
            entry_mac BYTEA NOT NULL,
            record_count BIGINT NOT NULL)
        """,
        "CREATE TABLE IF NOT EXISTS records (key BYTEA PRIMARY KEY, user_id BYTEA NOT NULL, version BIGINT NOT NULL, ciphertext BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS log_entries (log_index BIGINT PRIMARY KEY, entry BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS merkle_nodes (hash BYTEA PRIMARY KEY, kind SMALLINT NOT NULL, a BYTEA NOT NULL, b BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS fleet_values (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
    ];

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresMerkleNodeStore _nodes;
    private VaultStoreState _state;

    private PostgresVaultStore(NpgsqlDataSource dataSource, string name, VaultStoreState state)
    {
        _dataSource = dataSource;
        Name = name;
        _nodes = new PostgresMerkleNodeStore(dataSource, name);
        _state = state;
    }

    /// <summary><c>postgresql://host:port/database</c>, without credentials: what messages and logs call this store.</summary>
    public string Name { get; }

    /// <summary>
    /// Opens the store in the database <paramref name="connectionString"/> names, creating its
    /// tables when absent. Throws <see cref="StoreUnavailableException"/> when the server cannot be
    /// reached or refuses, and <see cref="StoreUnreadableException"/> when the database holds
    /// something that is not this store; both messages name host:port/database, never the password.
    /// </summary>
    public static PostgresVaultStore Open(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        NpgsqlConnectionStringBuilder settings = builder.ConnectionStringBuilder;
        string name = PostgresProblems.Name(settings);

        // The same few statements run for every commit and node read: let the driver prepare them on
        // the server after their second use (CockroachDB and YugabyteDB support prepared statements).
        if (settings.MaxAutoPrepare == 0)
        {
            settings.MaxAutoPrepare = 32;
        }

        settings.ApplicationName ??= "hsmvault-host";
        NpgsqlDataSource dataSource = builder.Build();
        try
        {
            CreateSchema(dataSource, name);
            VaultStoreState state = Run(dataSource, name, connection => ReadState(connection, null, name));
            return new PostgresVaultStore(dataSource, name, state);
        }
        catch
        {
            dataSource.Dispose();
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
        byte[] id = key.ToArray();
        return Run(_dataSource, Name, connection =>
        {
            using NpgsqlCommand command = new("SELECT version, ciphertext FROM records WHERE key = $1", connection);
            command.Parameters.Add(Bytes(id));
            using NpgsqlDataReader reader = command.ExecuteReader();
            return reader.Read()
                ? new SealedRecord { Version = unchecked((ulong)reader.GetInt64(0)), Ciphertext = ByteString.CopyFrom(reader.GetFieldValue<byte[]>(1)) }
                : null;
        });
    }

    /// <inheritdoc />
    public LogEntry? FindLogEntry(ulong index)
    {
        byte[]? bytes = ReadLogEntry(index);
        return bytes is null ? null : LogEntry.Parser.ParseFrom(bytes);
    }

    /// <inheritdoc />
    public void Commit(VaultCommit commit)
    {
        ArgumentNullException.ThrowIfNull(commit);

        // Everything is encoded before the first statement, so a commit that cannot be encoded sends nothing.
        PreparedCommit prepared = PreparedCommit.From(commit);
        int serializationFailures = 0;
        int connectionFailures = 0;
        bool outcomeUnknown = false;
        while (true)
        {
            try
            {
                VaultStoreState committed = CommitOnce(prepared, outcomeUnknown);
                Volatile.Write(ref _state, committed);
                return;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresProblems.UniqueViolation)
            {
                // Another writer inserted this index between our read and our insert.
                throw new StoreConflictException($"log_entry.index: {commit.Entry.Index} is already in the log");
            }
            catch (NpgsqlException ex) when (PostgresProblems.IsSerializationFailure(ex))
            {
                if (++serializationFailures >= MaxSerializationAttempts)
                {
                    throw new StoreUnavailableException(
                        $"the store {Name} could not commit: {serializationFailures} attempts in a row lost to concurrent writers", ex);
                }

                Backoff(serializationFailures);
            }
            catch (NpgsqlException ex) when (ex.IsTransient && ex is not PostgresException && ++connectionFailures < MaxConnectionAttempts)
            {
                // The connection broke; if that was during COMMIT the entry may be in the database already.
                outcomeUnknown = true;
                Backoff(connectionFailures);
            }
            catch (NpgsqlException ex)
            {
                throw PostgresProblems.Unavailable(Name, ex);
            }
        }
    }

    /// <inheritdoc />
    public string? CheckHealth()
    {
        try
        {
            VaultStoreState inDatabase = Run(_dataSource, Name, connection => ReadState(connection, null, Name));
            VaultStoreState held = State;
            return inDatabase.LogIndex == held.LogIndex
                ? null
                : $"the store {Name} changed under the host (log index {inDatabase.LogIndex} in the database, {held.LogIndex} committed by this host)";
        }
        catch (Exception ex) when (ex is StoreUnavailableException or StoreUnreadableException or InvalidOperationException)
        {
            return ex.Message;
        }
    }

    /// <inheritdoc />
    public void Refresh() => Volatile.Write(ref _state, Run(_dataSource, Name, connection => ReadState(connection, null, Name)));

    /// <inheritdoc />
    public byte[]? ReadFleetValue(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Run(_dataSource, Name, connection =>
        {
            using NpgsqlCommand command = new("SELECT value FROM fleet_values WHERE name = $1", connection);
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = name });
            return command.ExecuteScalar() as byte[];
        });
    }

    /// <inheritdoc />
    public bool CompareAndSetFleetValue(string name, byte[]? expected, byte[] value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);

        // One statement, so it is atomic at any isolation level, on PostgreSQL and its distributed cousins alike.
        return Run(_dataSource, Name, connection =>
        {
            using NpgsqlCommand command = new(
                expected is null
                    ? "INSERT INTO fleet_values (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
                    : "UPDATE fleet_values SET value = $2 WHERE name = $1 AND value = $3",
                connection);
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = name });
            command.Parameters.Add(Bytes(value));
            if (expected is not null)
            {
                command.Parameters.Add(Bytes(expected));
            }

            return command.ExecuteNonQuery() == 1;
        });
    }

    public void Dispose() => _dataSource.Dispose();

    private VaultStoreState CommitOnce(PreparedCommit commit, bool outcomeUnknown)
    {
        using NpgsqlConnection connection = _dataSource.OpenConnection();
        using NpgsqlTransaction transaction = connection.BeginTransaction(IsolationLevel.Serializable);

        // FOR UPDATE makes a concurrent appender wait here and then lose, instead of both running to COMMIT.
        VaultStoreState last = ReadState(connection, transaction, Name, forUpdate: true);
        if (StoreConflicts.Check(commit.Entry, last.LogIndex, last.EntryMac) is { } conflict)
        {
            if (outcomeUnknown && last.LogIndex == commit.Entry.Index && SameEntryStored(connection, transaction, commit))
            {
                // Our earlier attempt did commit; its answer was lost with the connection.
                return last;
            }

            throw new StoreConflictException(conflict);
        }

        long recordCount = last.RecordCount + CountNewRecords(connection, transaction, commit);
        using NpgsqlBatch batch = new(connection, transaction);
        batch.BatchCommands.Add(Statement("INSERT INTO log_entries (log_index, entry) VALUES ($1, $2)", Int64(commit.Index), Bytes(commit.EntryBytes)));
        var deletes = new List<NpgsqlBatchCommand>();
        foreach (PreparedWrite write in commit.Writes)
        {
            if (write.Record is null)
            {
                NpgsqlBatchCommand delete = Statement("DELETE FROM records WHERE key = $1", Bytes(write.Key));
                deletes.Add(delete);
                batch.BatchCommands.Add(delete);
            }
            else
            {
                batch.BatchCommands.Add(Statement(
                    "INSERT INTO records (key, user_id, version, ciphertext) VALUES ($1, $2, $3, $4) " +
                    "ON CONFLICT (key) DO UPDATE SET user_id = excluded.user_id, version = excluded.version, ciphertext = excluded.ciphertext",
                    Bytes(write.Key),
                    Bytes(write.UserId),
                    Int64(write.Version),
                    Bytes(write.Record)));
            }
        }

        // Content-addressed: a node already there is the same node, so insert-if-absent, all in this one round trip.
        foreach ((byte[] hash, short kind, byte[] a, byte[] b) in commit.Nodes)
        {
            batch.BatchCommands.Add(Statement(
                "INSERT INTO merkle_nodes (hash, kind, a, b) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
                Bytes(hash),
                new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Smallint, Value = kind },
                Bytes(a),
                Bytes(b)));
        }

        // The old tree's nodes the new root no longer reaches: one statement for all of them.
        if (commit.Obsolete.Length > 0)
        {
            batch.BatchCommands.Add(Statement(
                "DELETE FROM merkle_nodes WHERE hash = ANY($1)",
                new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea, Value = commit.Obsolete }));
        }

        // The count is finished after the deletes ran; the state row goes in a second statement below.
        batch.ExecuteNonQuery();
        recordCount -= deletes.Sum(d => d.RecordsAffected);

        using (NpgsqlCommand update = new(
            "UPDATE store_state SET log_index = $1, merkle_root = $2, entry_mac = $3, record_count = $4 WHERE id = 1",
            connection,
            transaction))
        {
            update.Parameters.Add(Int64(commit.Index));
            update.Parameters.Add(Bytes(commit.MerkleRoot));
            update.Parameters.Add(Bytes(commit.Mac));
            update.Parameters.Add(Int64(recordCount));
            update.ExecuteNonQuery();
        }

        CrashPoints.Maybe(CrashPoints.MidStore);
        transaction.Commit();
        return new VaultStoreState(commit.Entry.Index, commit.MerkleRoot, commit.Mac, recordCount);
    }

    // How many of the commit's upserts create a record rather than replace one: one round trip for all of them.
    private static long CountNewRecords(NpgsqlConnection connection, NpgsqlTransaction transaction, PreparedCommit commit)
    {
        PreparedWrite[] upserts = [.. commit.Writes.Where(w => w.Record is not null)];
        if (upserts.Length == 0)
        {
            return 0;
        }

        using NpgsqlBatch batch = new(connection, transaction);
        foreach (PreparedWrite write in upserts)
        {
            batch.BatchCommands.Add(Statement("SELECT COUNT(*) FROM records WHERE key = $1", Bytes(write.Key)));
        }

        long created = 0;
        using NpgsqlDataReader reader = batch.ExecuteReader();
        do
        {
            while (reader.Read())
            {
                created += reader.GetInt64(0) == 0 ? 1 : 0;
            }
        }
        while (reader.NextResult());
        return created;
    }

    private static bool SameEntryStored(NpgsqlConnection connection, NpgsqlTransaction transaction, PreparedCommit commit)
    {
        using NpgsqlCommand command = new("SELECT entry FROM log_entries WHERE log_index = $1", connection, transaction);
        command.Parameters.Add(Int64(commit.Index));
        return command.ExecuteScalar() is byte[] stored && stored.AsSpan().SequenceEqual(commit.EntryBytes);
    }

    private byte[]? ReadLogEntry(ulong index) => Run(_dataSource, Name, connection =>
    {
        using NpgsqlCommand command = new("SELECT entry FROM log_entries WHERE log_index = $1", connection);
        command.Parameters.Add(Int64(unchecked((long)index)));
        return command.ExecuteScalar() as byte[];
    });

    private static void CreateSchema(NpgsqlDataSource dataSource, string name)
    {
        string[] seed = ["INSERT INTO store_state (id, schema_version, log_index, merkle_root, entry_mac, record_count) VALUES (1, $1, 0, $2, $3, 0) ON CONFLICT (id) DO NOTHING"];
        foreach (string sql in SchemaStatements.Concat(seed))
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    Run(dataSource, name, connection =>
                    {
                        using NpgsqlCommand command = new(sql, connection);
                        if (sql.StartsWith("INSERT", StringComparison.Ordinal))
                        {
                            command.Parameters.Add(Int64(SchemaVersion));
                            command.Parameters.Add(Bytes(MerkleHashing.Empty.ToArray()));
                            command.Parameters.Add(Bytes([]));
                        }

                        return command.ExecuteNonQuery();
                    });
                    break;
                }
                catch (StoreUnavailableException ex) when (attempt < MaxSerializationAttempts && ex.InnerException is PostgresException
                {
                    // Two hosts creating the same table at once: PostgreSQL's IF NOT EXISTS is not atomic, so the loser retries and finds it.
                    SqlState: PostgresProblems.UniqueViolation or PostgresProblems.DuplicateTable or PostgresProblems.SerializationFailure,
                })
                {
                    Backoff(attempt);
                }
            }
        }
    }

    private static VaultStoreState ReadState(NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, bool forUpdate = false)
    {
        string sql = "SELECT schema_version, log_index, merkle_root, entry_mac, record_count FROM store_state WHERE id = 1" + (forUpdate ? " FOR UPDATE" : "");
        using NpgsqlCommand command = new(sql, connection, transaction);
        using NpgsqlDataReader reader = command.ExecuteReader();
        if (!reader.Read())
        {
            throw new StoreUnreadableException(name, "is not a HsmVault host store (its store_state row is missing)");
        }

        long version = reader.GetInt64(0);
        if (version != SchemaVersion)
        {
            throw new StoreUnreadableException(name, $"has store schema version {version}; this host reads version {SchemaVersion}");
        }

        return new VaultStoreState(
            unchecked((ulong)reader.GetInt64(1)),
            reader.GetFieldValue<byte[]>(2),
            reader.GetFieldValue<byte[]>(3),
            reader.GetInt64(4));
    }

    /// <summary>Runs <paramref name="read"/> on a pooled connection; driver failures become <see cref="StoreUnavailableException"/>.</summary>
    internal static T Run<T>(NpgsqlDataSource dataSource, string name, Func<NpgsqlConnection, T> read)
    {
        try
        {
            using NpgsqlConnection connection = dataSource.OpenConnection();
            return read(connection);
        }
        catch (NpgsqlException ex)
        {
            throw PostgresProblems.Unavailable(name, ex);
        }
    }

    internal static NpgsqlParameter Bytes(byte[] value) => new() { NpgsqlDbType = NpgsqlDbType.Bytea, Value = value };

    internal static NpgsqlParameter Int64(long value) => new() { NpgsqlDbType = NpgsqlDbType.Bigint, Value = value };

    private static NpgsqlBatchCommand Statement(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    // Jittered so two hosts that collided do not collide again in lockstep.
    private static void Backoff(int attempt) => Thread.Sleep(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 20) * Math.Min(attempt, 8)));

    /// <summary>A commit in column form, encoded once for every attempt.</summary>
    private sealed record PreparedCommit(LogEntry Entry, long Index, byte[] EntryBytes, byte[] MerkleRoot, byte[] Mac, PreparedWrite[] Writes, (byte[] Hash, short Kind, byte[] A, byte[] B)[] Nodes, byte[][] Obsolete)
    {
        public static PreparedCommit From(VaultCommit commit) => new(
            commit.Entry,
            unchecked((long)commit.Entry.Index),
            commit.Entry.ToByteArray(),
            commit.Entry.MerkleRoot.ToByteArray(),
            commit.Entry.Mac.ToByteArray(),
            [.. commit.Writes.Select(w => new PreparedWrite(w.Key.ToByteArray(), w.UserId.ToByteArray(), unchecked((long)(w.Record?.Version ?? 0)), w.Record?.Ciphertext.ToByteArray()))],
            [.. commit.Nodes.Select(n =>
            {
                (short kind, byte[] a, byte[] b) = MerkleNodeRows.ToRow(n.Value);
                return (n.Key, kind, a, b);
            })],
            [.. commit.Obsolete]);
    }

    private sealed record PreparedWrite(byte[] Key, byte[] UserId, long Version, byte[]? Record);
}

/// <summary>
/// The Merkle nodes of a <see cref="PostgresVaultStore"/>: the table <c>merkle_nodes</c>, read on
/// a pooled connection, with the same read cache as the SQLite node store (nodes are content-addressed).
/// </summary>
internal sealed class PostgresMerkleNodeStore : IMerkleNodeStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _name;
    private readonly MerkleNodeCache _cache = new(100_000);

    public PostgresMerkleNodeStore(NpgsqlDataSource dataSource, string name)
    {
        _dataSource = dataSource;
        _name = name;
    }

    /// <inheritdoc />
    public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node)
    {
        byte[] key = hash.ToArray();
        if (_cache.TryGet(key, out node))
        {
            return true;
        }

        MerkleNode? found = PostgresVaultStore.Run(_dataSource, _name, connection =>
        {
            using NpgsqlCommand command = new("SELECT kind, a, b FROM merkle_nodes WHERE hash = $1", connection);
            command.Parameters.Add(PostgresVaultStore.Bytes(key));
            using NpgsqlDataReader reader = command.ExecuteReader();
            return reader.Read() ? MerkleNodeRows.FromRow(reader.GetInt16(0), reader.GetFieldValue<byte[]>(1), reader.GetFieldValue<byte[]>(2)) : null;
        });
        if (found is null)
        {
            node = null!;
            return false;
        }

        _cache.Add(key, found);
        node = found;
        return true;
    }

    /// <inheritdoc />
    public void Put(byte[] hash, MerkleNode node)
    {
        ArgumentNullException.ThrowIfNull(hash);
        (short kind, byte[] a, byte[] b) = MerkleNodeRows.ToRow(node);
        PostgresVaultStore.Run(_dataSource, _name, connection =>
        {
            using NpgsqlCommand command = new("INSERT INTO merkle_nodes (hash, kind, a, b) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING", connection);
            command.Parameters.Add(PostgresVaultStore.Bytes(hash));
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Smallint, Value = kind });
            command.Parameters.Add(PostgresVaultStore.Bytes(a));
            command.Parameters.Add(PostgresVaultStore.Bytes(b));
            return command.ExecuteNonQuery();
        });
    }
}
