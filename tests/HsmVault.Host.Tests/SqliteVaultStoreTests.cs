using Google.Protobuf;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

[TestClass]
public sealed class SqliteVaultStoreTests
{
    [TestMethod]
    public void A_new_store_starts_at_log_index_zero_with_the_empty_root()
    {
        using var directory = new TempDirectory();
        using SqliteVaultStore store = SqliteVaultStore.Open(directory.File("s.db"));

        Assert.AreEqual(0UL, store.State.LogIndex);
        CollectionAssert.AreEqual(MerkleHashing.Empty.ToArray(), store.State.MerkleRoot);
        Assert.AreEqual(0L, store.State.RecordCount);
    }

    [TestMethod]
    public void Committed_records_nodes_and_log_survive_reopening_the_file()
    {
        using var directory = new TempDirectory();
        string path = directory.File("s.db");
        VaultCommit first = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"), ("bob", "b1"));
        using (SqliteVaultStore store = SqliteVaultStore.Open(path))
        {
            store.Commit(first);
            store.Commit(Commit(first.Entry.MerkleRoot.ToByteArray(), 2, first.Nodes, ("alice", "a2")));
        }

        using SqliteVaultStore reopened = SqliteVaultStore.Open(path);
        Assert.AreEqual(2UL, reopened.State.LogIndex);
        Assert.AreEqual(2L, reopened.State.RecordCount);
        Assert.AreEqual("a2", reopened.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
        Assert.AreEqual(2UL, reopened.FindRecord(MerkleHashing.UserKey("alice"))!.Version);
        Assert.AreEqual("b1", reopened.FindRecord(MerkleHashing.UserKey("bob"))!.Ciphertext.ToStringUtf8());
        Assert.IsNotNull(reopened.FindLogEntry(1));
        var tree = new SparseMerkleTree(reopened.Nodes, reopened.State.MerkleRoot);
        CollectionAssert.AreEqual(
            MerkleHashing.RecordValueHash(reopened.FindRecord(MerkleHashing.UserKey("bob"))!),
            tree.Find(MerkleHashing.UserKey("bob")));
    }

    [TestMethod]
    public void A_deletion_removes_the_record_and_lowers_the_count()
    {
        using var directory = new TempDirectory();
        using SqliteVaultStore store = SqliteVaultStore.Open(directory.File("s.db"));
        VaultCommit first = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"), ("bob", "b1"));
        store.Commit(first);

        var tree = new SparseMerkleTree(new StagedMerkleNodeStore(store.Nodes), store.State.MerkleRoot);
        tree.Remove(MerkleHashing.UserKey("alice"));
        var deletion = new RecordWrite { UserId = ByteString.CopyFromUtf8("alice"), Key = ByteString.CopyFrom(MerkleHashing.UserKey("alice")) };
        store.Commit(new VaultCommit(Entry(2, tree.Root), [deletion], new Dictionary<byte[], MerkleNode>()));

        Assert.IsNull(store.FindRecord(MerkleHashing.UserKey("alice")));
        Assert.AreEqual(1L, store.State.RecordCount);
    }

    [TestMethod]
    public void A_commit_that_fails_midway_leaves_nothing_behind()
    {
        using var directory = new TempDirectory();
        string path = directory.File("s.db");
        using SqliteVaultStore store = SqliteVaultStore.Open(path);
        store.Commit(Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1")));
        VaultStoreState before = store.State;

        // A node of an unknown type throws after the log entry and the record rows were written.
        var nodes = new Dictionary<byte[], MerkleNode>(ByteArrayComparer.Instance) { [new byte[32]] = new AlienNode() };
        var write = new RecordWrite
        {
            UserId = ByteString.CopyFromUtf8("mallory"),
            Key = ByteString.CopyFrom(MerkleHashing.UserKey("mallory")),
            Record = new SealedRecord { Version = 2, Ciphertext = ByteString.CopyFromUtf8("m") },
        };
        Assert.ThrowsExactly<ArgumentException>(() => store.Commit(new VaultCommit(Entry(2, new byte[32]), [write], nodes)));

        Assert.AreEqual(before, store.State);
        Assert.IsNull(store.FindRecord(MerkleHashing.UserKey("mallory")));
        Assert.IsNull(store.FindLogEntry(2));
        store.Dispose();
        using SqliteVaultStore reopened = SqliteVaultStore.Open(path);
        Assert.AreEqual(1UL, reopened.State.LogIndex);
        Assert.IsNull(reopened.FindRecord(MerkleHashing.UserKey("mallory")));
    }

    [TestMethod]
    public void A_log_entry_that_does_not_follow_the_last_one_is_a_conflict()
    {
        using var directory = new TempDirectory();
        using SqliteVaultStore store = SqliteVaultStore.Open(directory.File("s.db"));
        store.Commit(Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1")));

        var replay = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "x"));
        var gap = Commit(MerkleHashing.Empty.ToArray(), 3, NoNodes, ("alice", "y"));

        StoreConflictException ex = Assert.ThrowsExactly<StoreConflictException>(() => store.Commit(replay));
        StringAssert.Contains(ex.Message, "log_entry.index");
        Assert.ThrowsExactly<StoreConflictException>(() => store.Commit(gap));
        Assert.AreEqual("a1", store.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
    }

    [TestMethod]
    public void Proofs_from_the_sqlite_node_store_equal_proofs_from_the_in_memory_store()
    {
        using var directory = new TempDirectory();
        using SqliteVaultStore store = SqliteVaultStore.Open(directory.File("s.db"));
        var sqliteNodes = new SqliteMerkleNodeStore(ConnectionOf(directory.File("nodes.db")));
        var sqliteTree = new SparseMerkleTree(sqliteNodes);
        var memoryTree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        for (int i = 0; i < 300; i++)
        {
            byte[] key = MerkleHashing.UserKey($"user-{i}");
            byte[] value = MerkleHashing.UserKey($"value-{i}");
            sqliteTree.Set(key, value);
            memoryTree.Set(key, value);
        }

        for (int i = 0; i < 300; i += 3)
        {
            sqliteTree.Remove(MerkleHashing.UserKey($"user-{i}"));
            memoryTree.Remove(MerkleHashing.UserKey($"user-{i}"));
        }

        CollectionAssert.AreEqual(memoryTree.Root, sqliteTree.Root);
        for (int i = 0; i < 320; i += 7)
        {
            byte[] key = MerkleHashing.UserKey($"user-{i}");
            MerkleProof fromSqlite = sqliteTree.Prove(key);
            Assert.AreEqual(memoryTree.Prove(key), fromSqlite, $"proof for user-{i}");
            CollectionAssert.AreEqual(sqliteTree.Root, SparseMerkleTree.AddProof(new InMemoryMerkleNodeStore(), key, fromSqlite));
        }
    }

    private static IReadOnlyDictionary<byte[], MerkleNode> NoNodes => new Dictionary<byte[], MerkleNode>();

    private static Microsoft.Data.Sqlite.SqliteConnection ConnectionOf(string path)
    {
        var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        SqliteMerkleNodeStore.CreateSchema(connection, null);
        return connection;
    }

    // Builds the commit a batch writing these records would produce over the tree at `root`.
    private static VaultCommit Commit(byte[] root, ulong index, IReadOnlyDictionary<byte[], MerkleNode> existing, params (string User, string Ciphertext)[] records)
    {
        var nodes = new InMemoryMerkleNodeStore();
        foreach ((byte[] hash, MerkleNode node) in existing)
        {
            nodes.Put(hash, node);
        }

        var staged = new StagedMerkleNodeStore(nodes);
        var tree = new SparseMerkleTree(staged, root);
        var writes = new List<RecordWrite>();
        foreach ((string user, string ciphertext) in records)
        {
            var record = new SealedRecord { Version = index, Ciphertext = ByteString.CopyFromUtf8(ciphertext) };
            tree.Set(MerkleHashing.UserKey(user), MerkleHashing.RecordValueHash(record));
            writes.Add(new RecordWrite { UserId = ByteString.CopyFromUtf8(user), Key = ByteString.CopyFrom(MerkleHashing.UserKey(user)), Record = record });
        }

        var all = new Dictionary<byte[], MerkleNode>(ByteArrayComparer.Instance);
        foreach ((byte[] hash, MerkleNode node) in existing)
        {
            all[hash] = node;
        }

        foreach ((byte[] hash, MerkleNode node) in staged.Staged)
        {
            all[hash] = node;
        }

        return new VaultCommit(Entry(index, tree.Root), writes, all);
    }

    private static LogEntry Entry(ulong index, byte[] root) => new()
    {
        Index = index,
        PreviousMac = ByteString.CopyFrom(new byte[32]),
        MerkleRoot = ByteString.CopyFrom(root),
        Mac = ByteString.CopyFrom(Enumerable.Repeat((byte)index, 32).ToArray()),
    };

    private sealed record AlienNode : MerkleNode
    {
        public override byte[] ComputeHash() => new byte[32];
    }
}
