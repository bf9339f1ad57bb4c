using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Epochs;
using Microsoft.Data.Sqlite;

namespace HsmVault.Witness;

/// <summary>
/// The witness's durable state: one SQLite file in WAL mode with synchronous=FULL, so an append
/// has reached the disk when <see cref="Append"/> returns, and a crash leaves every append either
/// whole (entry and its checkpoint) or absent. Entries, the checkpoint signed at every size, the
/// operator's counter-signatures, cosignatures of other witnesses, and the cosigner role's latest
/// cosigned checkpoint per log. One writer: <see cref="WitnessLog"/> serialises calls.
/// </summary>
internal sealed class WitnessStore : IDisposable
{
    private const int SchemaVersion = 1;

    private readonly SqliteConnection _connection;

    private WitnessStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Opens, creating if needed, the store at <paramref name="path"/>.</summary>
    public static WitnessStore Open(string path)
    {
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
            using (SqliteTransaction schema = connection.BeginTransaction())
            {
                Execute(connection, schema, """
                    CREATE TABLE IF NOT EXISTS meta (
                        key TEXT PRIMARY KEY,
                        value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS entries (
                        namespace TEXT NOT NULL,
                        idx INTEGER NOT NULL,
                        epoch INTEGER NOT NULL,
                        digest BLOB NOT NULL,
                        fleet_keys BLOB NOT NULL,
                        witness_signature BLOB NOT NULL,
                        counter_signature BLOB,
                        PRIMARY KEY (namespace, idx),
                        UNIQUE (namespace, epoch)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS checkpoints (
                        namespace TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        note TEXT NOT NULL,
                        PRIMARY KEY (namespace, size)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS cosignatures (
                        namespace TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        cosigner TEXT NOT NULL,
                        line TEXT NOT NULL,
                        PRIMARY KEY (namespace, size, cosigner)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS cosigner_sizes (
                        namespace TEXT NOT NULL,
                        cosigner TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        PRIMARY KEY (namespace, cosigner)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS cosigned (
                        origin TEXT PRIMARY KEY,
                        size INTEGER NOT NULL,
                        note TEXT NOT NULL);
                    """);
                using SqliteCommand seed = Command(connection, schema, "INSERT OR IGNORE INTO meta VALUES ('schema_version', $v);");
                seed.Parameters.AddWithValue("$v", SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
                seed.ExecuteNonQuery();
                schema.Commit();
            }

            string? version = ReadMeta(connection, "schema_version");
            if (version != SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                throw new WitnessStoreException(path, $"schema version {version}, this witness reads {SchemaVersion}");
            }

            return new WitnessStore(connection, path);
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw new WitnessStoreException(path, ex.Message, ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A value of the meta table, or null.</summary>
    public string? Meta(string key) => ReadMeta(_connection, key);

    /// <summary>Sets a meta value once; returns the value now stored (the earlier one if there was one).</summary>
    public string BindMeta(string key, string value)
    {
        using SqliteCommand insert = Command(_connection, null, "INSERT OR IGNORE INTO meta VALUES ($k, $v);");
        insert.Parameters.AddWithValue("$k", key);
        insert.Parameters.AddWithValue("$v", value);
        insert.ExecuteNonQuery();
        return ReadMeta(_connection, key)!;
    }

    /// <summary>The namespaces that have entries.</summary>
    public IReadOnlyList<string> Namespaces()
    {
        using SqliteCommand command = Command(_connection, null, "SELECT DISTINCT namespace FROM entries ORDER BY namespace;");
        using SqliteDataReader reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>Every entry of a namespace in index order.</summary>
    public IReadOnlyList<WitnessLogEntry> Entries(string @namespace)
    {
        using SqliteCommand command = Command(_connection, null, """
            SELECT idx, epoch, digest, fleet_keys, witness_signature, counter_signature
            FROM entries WHERE namespace = $ns ORDER BY idx;
            """);
        command.Parameters.AddWithValue("$ns", @namespace);
        using SqliteDataReader reader = command.ExecuteReader();
        var entries = new List<WitnessLogEntry>();
        while (reader.Read())
        {
            long index = reader.GetInt64(0);
            if (index != entries.Count)
            {
                throw new WitnessStoreException(Path, $"namespace {@namespace}: entry index {index} where {entries.Count} was due");
            }

            FleetKeySet fleetKeys = FleetKeySet.Parse(System.Text.Encoding.UTF8.GetString((byte[])reader[3]));
            entries.Add(new WitnessLogEntry(
                index,
                new EpochStatement(@namespace, reader.GetInt64(1), (byte[])reader[2]),
                fleetKeys,
                (byte[])reader[4],
                reader.IsDBNull(5) ? null : (byte[])reader[5]));
        }

        return entries;
    }

    /// <summary>The checkpoints of a namespace by size, as signed by the log (without cosignatures).</summary>
    public IReadOnlyDictionary<long, string> Checkpoints(string @namespace) =>
        ReadPairs("SELECT size, note FROM checkpoints WHERE namespace = $ns;", @namespace);

    /// <summary>The cosignature lines of a namespace: size → cosigner name → line.</summary>
    public IReadOnlyDictionary<long, Dictionary<string, string>> Cosignatures(string @namespace)
    {
        using SqliteCommand command = Command(_connection, null, "SELECT size, cosigner, line FROM cosignatures WHERE namespace = $ns;");
        command.Parameters.AddWithValue("$ns", @namespace);
        using SqliteDataReader reader = command.ExecuteReader();
        var lines = new Dictionary<long, Dictionary<string, string>>();
        while (reader.Read())
        {
            long size = reader.GetInt64(0);
            if (!lines.TryGetValue(size, out Dictionary<string, string>? bySigner))
            {
                lines[size] = bySigner = new Dictionary<string, string>(StringComparer.Ordinal);
            }

            bySigner[reader.GetString(1)] = reader.GetString(2);
        }

        return lines;
    }

    /// <summary>Appends an entry and the checkpoint of the new size in one transaction.</summary>
    public void Append(WitnessLogEntry entry, string checkpointNote)
    {
        using SqliteTransaction transaction = _connection.BeginTransaction();
        using (SqliteCommand insert = Command(_connection, transaction, """
            INSERT INTO entries (namespace, idx, epoch, digest, fleet_keys, witness_signature, counter_signature)
            VALUES ($ns, $idx, $epoch, $digest, $file, $sig, $counter);
            """))
        {
            insert.Parameters.AddWithValue("$ns", entry.Statement.Namespace);
            insert.Parameters.AddWithValue("$idx", entry.Index);
            insert.Parameters.AddWithValue("$epoch", entry.Statement.Epoch);
            insert.Parameters.AddWithValue("$digest", entry.Statement.FleetKeysDigest);
            insert.Parameters.AddWithValue("$file", entry.FleetKeys.ToCanonicalJson());
            insert.Parameters.AddWithValue("$sig", entry.WitnessSignature);
            insert.Parameters.AddWithValue("$counter", (object?)entry.CounterSignature ?? DBNull.Value);
            insert.ExecuteNonQuery();
        }

        using (SqliteCommand checkpoint = Command(_connection, transaction, "INSERT INTO checkpoints VALUES ($ns, $size, $note);"))
        {
            checkpoint.Parameters.AddWithValue("$ns", entry.Statement.Namespace);
            checkpoint.Parameters.AddWithValue("$size", entry.Index + 1);
            checkpoint.Parameters.AddWithValue("$note", checkpointNote);
            checkpoint.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    /// <summary>Stores the counter-signature of an entry that has none.</summary>
    public void SetCounterSignature(string @namespace, long index, byte[] counterSignature)
    {
        using SqliteCommand update = Command(_connection, null, """
            UPDATE entries SET counter_signature = $counter
            WHERE namespace = $ns AND idx = $idx AND counter_signature IS NULL;
            """);
        update.Parameters.AddWithValue("$ns", @namespace);
        update.Parameters.AddWithValue("$idx", index);
        update.Parameters.AddWithValue("$counter", counterSignature);
        if (update.ExecuteNonQuery() != 1)
        {
            throw new WitnessStoreException(Path, $"namespace {@namespace}: entry {index} is missing or already counter-signed");
        }
    }

    /// <summary>Stores a cosignature line and what the cosigner has now seen, in one transaction.</summary>
    public void AddCosignature(string @namespace, long size, string cosigner, string line)
    {
        using SqliteTransaction transaction = _connection.BeginTransaction();
        using (SqliteCommand insert = Command(_connection, transaction, "INSERT OR REPLACE INTO cosignatures VALUES ($ns, $size, $who, $line);"))
        {
            insert.Parameters.AddWithValue("$ns", @namespace);
            insert.Parameters.AddWithValue("$size", size);
            insert.Parameters.AddWithValue("$who", cosigner);
            insert.Parameters.AddWithValue("$line", line);
            insert.ExecuteNonQuery();
        }

        SetCosignerSize(transaction, @namespace, cosigner, size);
        transaction.Commit();
    }

    /// <summary>The size a cosigner last cosigned for a namespace (0 when never).</summary>
    public long CosignerSize(string @namespace, string cosigner)
    {
        using SqliteCommand command = Command(_connection, null, "SELECT size FROM cosigner_sizes WHERE namespace = $ns AND cosigner = $who;");
        command.Parameters.AddWithValue("$ns", @namespace);
        command.Parameters.AddWithValue("$who", cosigner);
        return command.ExecuteScalar() is long size ? size : 0;
    }

    /// <summary>Records the size a cosigner says it has (from a 409 answer).</summary>
    public void SetCosignerSize(string @namespace, string cosigner, long size) => SetCosignerSize(null, @namespace, cosigner, size);

    /// <summary>The cosigner role's latest cosigned checkpoint of <paramref name="origin"/>, or null.</summary>
    public (long Size, string Note)? Cosigned(string origin)
    {
        using SqliteCommand command = Command(_connection, null, "SELECT size, note FROM cosigned WHERE origin = $origin;");
        command.Parameters.AddWithValue("$origin", origin);
        using SqliteDataReader reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetString(1)) : null;
    }

    /// <summary>
    /// Replaces the cosigned checkpoint of <paramref name="origin"/> only if the stored size is still
    /// <paramref name="expectedSize"/> (0 for none): the compare and the write are one statement, so
    /// two add-checkpoint calls cannot roll the state back. Returns false when the size moved.
    /// </summary>
    public bool ReplaceCosigned(string origin, long expectedSize, long size, string note)
    {
        using SqliteTransaction transaction = _connection.BeginTransaction();
        long current;
        using (SqliteCommand read = Command(_connection, transaction, "SELECT size FROM cosigned WHERE origin = $origin;"))
        {
            read.Parameters.AddWithValue("$origin", origin);
            current = read.ExecuteScalar() is long stored ? stored : 0;
        }

        if (current != expectedSize)
        {
            return false;
        }

        using (SqliteCommand write = Command(_connection, transaction, "INSERT OR REPLACE INTO cosigned VALUES ($origin, $size, $note);"))
        {
            write.Parameters.AddWithValue("$origin", origin);
            write.Parameters.AddWithValue("$size", size);
            write.Parameters.AddWithValue("$note", note);
            write.ExecuteNonQuery();
        }

        transaction.Commit();
        return true;
    }

    public void Dispose() => _connection.Dispose();

    private void SetCosignerSize(SqliteTransaction? transaction, string @namespace, string cosigner, long size)
    {
        using SqliteCommand command = Command(_connection, transaction, "INSERT OR REPLACE INTO cosigner_sizes VALUES ($ns, $who, $size);");
        command.Parameters.AddWithValue("$ns", @namespace);
        command.Parameters.AddWithValue("$who", cosigner);
        command.Parameters.AddWithValue("$size", size);
        command.ExecuteNonQuery();
    }

    private Dictionary<long, string> ReadPairs(string sql, string @namespace)
    {
        using SqliteCommand command = Command(_connection, null, sql);
        command.Parameters.AddWithValue("$ns", @namespace);
        using SqliteDataReader reader = command.ExecuteReader();
        var pairs = new Dictionary<long, string>();
        while (reader.Read())
        {
            pairs[reader.GetInt64(0)] = reader.GetString(1);
        }

        return pairs;
    }

    private static string? ReadMeta(SqliteConnection connection, string key)
    {
        using SqliteCommand command = Command(connection, null, "SELECT value FROM meta WHERE key = $k;");
        command.Parameters.AddWithValue("$k", key);
        return command.ExecuteScalar() as string;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        SqliteCommand command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        using SqliteCommand command = Command(connection, transaction, sql);
        command.ExecuteNonQuery();
    }
}
