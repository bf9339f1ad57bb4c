using Google.Protobuf;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Host.Tests;

/// <summary>
/// What every <see cref="IVaultStore"/> must do, run against each store by a derived test class:
/// commits read back, all-or-nothing commits, the conditional log append (index and MAC chain,
/// first writer wins), and a second store instance on the same database seeing committed state.
/// </summary>
public abstract class VaultStoreContract
{
    /// <summary>A new, empty place for a store (a file path, a database's connection string).</summary>
    protected abstract string NewLocation();

    /// <summary>Opens (creating if needed) the store at <paramref name="location"/>.</summary>
    protected abstract IVaultStore Open(string location);

    /// <summary>Whether <see cref="NewLocation"/> gives PostgreSQL connection strings (else SQLite paths).</summary>
    protected virtual bool IsPostgres => false;

    /// <summary>How many rows the table merkle_nodes holds, read straight from the database.</summary>
    private long CountNodeRows(string location) => StoreAudit.Check(location, IsPostgres).NodeRows;

    [TestMethod]
    public void Every_commit_deletes_the_nodes_it_made_unreachable_so_the_store_holds_exactly_the_live_tree()
    {
        // Random batches of inserts, updates, removals, repeated keys and unchanged writes, as the
        // pipeline commits them; after each, the rows are exactly the nodes the root reaches.
        string location = NewLocation();
        using IVaultStore store = Open(location);
        var reference = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        var records = new Dictionary<string, SealedRecord>();
        var random = new Random(20261201);
        long withoutPruning = 0;
        int removals = 0, unchanged = 0, repeats = 0;
        for (ulong index = 1; index <= 60; index++)
        {
            byte[] oldRoot = store.State.MerkleRoot;
            var staged = new StagedMerkleNodeStore(store.Nodes);
            var tree = new SparseMerkleTree(staged, oldRoot);
            var writes = new List<RecordWrite>();
            int count = 1 + random.Next(6);
            for (int w = 0; w < count; w++)
            {
                string user = $"user-{random.Next(index < 10 ? 200 : 80)}";
                byte[] key = MerkleHashing.UserKey(user);
                var write = new RecordWrite { UserId = ByteString.CopyFromUtf8(user), Key = ByteString.CopyFrom(key) };
                int roll = random.Next(10);
                if (roll < 2 && records.Remove(user))
                {
                    tree.Remove(key);
                    reference.Remove(key);
                    removals++;
                }
                else
                {
                    SealedRecord record = roll == 2 && records.TryGetValue(user, out SealedRecord? same)
                        ? same
                        : new SealedRecord { Version = index, Ciphertext = ByteString.CopyFromUtf8($"{user} at {index}.{w}") };
                    unchanged += roll == 2 && records.ContainsKey(user) ? 1 : 0;
                    repeats += writes.Any(x => x.Key.Equals(write.Key)) ? 1 : 0;
                    records[user] = record;
                    write.Record = record;
                    tree.Set(key, MerkleHashing.RecordValueHash(record));
                    reference.Set(key, MerkleHashing.RecordValueHash(record));
                }

                writes.Add(write);
            }

            withoutPruning += staged.Staged.Count;
            VaultCommit commit = VaultCommit.Pruning(Entry(index, tree.Root), writes, staged, oldRoot);
            store.Commit(commit);

            CollectionAssert.AreEqual(reference.Root, store.State.MerkleRoot, $"batch {index}");
            long live = MerkleCensus.Reachable(store.Nodes, store.State.MerkleRoot);
            Assert.AreEqual(live, CountNodeRows(location), $"batch {index}: the rows are not exactly the live tree ({commit.Obsolete.Count} deleted)");
        }

        var final = new SparseMerkleTree(store.Nodes, store.State.MerkleRoot);
        foreach ((string user, SealedRecord record) in records)
        {
            CollectionAssert.AreEqual(MerkleHashing.RecordValueHash(record), final.Find(MerkleHashing.UserKey(user)), user);
        }

        for (int i = 0; i < 200; i++)
        {
            if (!records.ContainsKey($"user-{i}"))
            {
                Assert.IsNull(final.Find(MerkleHashing.UserKey($"user-{i}")), $"user-{i} was removed or never written");
            }
        }

        Console.WriteLine($"{records.Count} records, {CountNodeRows(location)} node rows; {withoutPruning} staged nodes; {removals} removals, {unchanged} unchanged writes, {repeats} repeated keys");
        Assert.IsTrue(removals > 0 && unchanged > 0 && repeats > 0, "the workload must hold every kind of write for the test to mean anything");
        Assert.IsTrue(CountNodeRows(location) < withoutPruning / 2, "without pruning the store would keep every staged node");
    }

    [TestMethod]
    public void A_new_store_starts_at_log_index_zero_with_the_empty_root()
    {
        using IVaultStore store = Open(NewLocation());

        Assert.AreEqual(0UL, store.State.LogIndex);
        CollectionAssert.AreEqual(MerkleHashing.Empty.ToArray(), store.State.MerkleRoot);
        Assert.AreEqual(0L, store.State.RecordCount);
        Assert.IsNull(store.CheckHealth());
    }

    [TestMethod]
    public void Committed_records_nodes_and_log_survive_reopening_the_store()
    {
        string location = NewLocation();
        VaultCommit first = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"), ("bob", "b1"));
        using (IVaultStore store = Open(location))
        {
            store.Commit(first);
            store.Commit(Commit(first.Entry.MerkleRoot.ToByteArray(), 2, first.Nodes, ("alice", "a2")));
        }

        using IVaultStore reopened = Open(location);
        Assert.AreEqual(2UL, reopened.State.LogIndex);
        Assert.AreEqual(2L, reopened.State.RecordCount);
        Assert.AreEqual("a2", reopened.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
        Assert.AreEqual(2UL, reopened.FindRecord(MerkleHashing.UserKey("alice"))!.Version);
        Assert.AreEqual("b1", reopened.FindRecord(MerkleHashing.UserKey("bob"))!.Ciphertext.ToStringUtf8());
        Assert.AreEqual(first.Entry, reopened.FindLogEntry(1));
        Assert.IsNull(reopened.FindLogEntry(3));
        var tree = new SparseMerkleTree(reopened.Nodes, reopened.State.MerkleRoot);
        CollectionAssert.AreEqual(
            MerkleHashing.RecordValueHash(reopened.FindRecord(MerkleHashing.UserKey("bob"))!),
            tree.Find(MerkleHashing.UserKey("bob")));
    }

    [TestMethod]
    public void A_second_store_on_the_same_database_sees_the_committed_state()
    {
        string location = NewLocation();
        using IVaultStore writer = Open(location);
        VaultCommit first = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"));
        writer.Commit(first);

        using IVaultStore reader = Open(location);

        Assert.AreEqual(writer.State.LogIndex, reader.State.LogIndex);
        CollectionAssert.AreEqual(writer.State.MerkleRoot, reader.State.MerkleRoot);
        CollectionAssert.AreEqual(writer.State.EntryMac, reader.State.EntryMac);
        Assert.AreEqual(writer.State.RecordCount, reader.State.RecordCount);
        Assert.AreEqual("a1", reader.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
        Assert.IsNull(reader.CheckHealth());

        // The first instance moves on: the second one's check reads the database and says it is behind.
        writer.Commit(Commit(first.Entry.MerkleRoot.ToByteArray(), 2, first.Nodes, ("bob", "b1")));
        string? problem = reader.CheckHealth();
        Assert.IsNotNull(problem);
        StringAssert.Contains(problem, "changed under the host");
    }

    [TestMethod]
    public void A_deletion_removes_the_record_and_lowers_the_count()
    {
        using IVaultStore store = Open(NewLocation());
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
        string location = NewLocation();
        IVaultStore store = Open(location);
        store.Commit(Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1")));
        VaultStoreState before = store.State;

        // A node of an unknown type cannot be written; the log entry and record in the same commit must not be either.
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
        using IVaultStore reopened = Open(location);
        Assert.AreEqual(1UL, reopened.State.LogIndex);
        Assert.AreEqual(1L, reopened.State.RecordCount);
        Assert.IsNull(reopened.FindRecord(MerkleHashing.UserKey("mallory")));
    }

    [TestMethod]
    public void A_log_entry_that_does_not_follow_the_last_one_is_a_conflict()
    {
        using IVaultStore store = Open(NewLocation());
        store.Commit(Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1")));

        var replay = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "x"));
        var gap = Commit(MerkleHashing.Empty.ToArray(), 3, NoNodes, ("alice", "y"));

        StoreConflictException ex = Assert.ThrowsExactly<StoreConflictException>(() => store.Commit(replay));
        StringAssert.Contains(ex.Message, "log_entry.index");
        Assert.ThrowsExactly<StoreConflictException>(() => store.Commit(gap));
        Assert.AreEqual("a1", store.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
        Assert.AreEqual(1UL, store.State.LogIndex);
    }

    [TestMethod]
    public void A_log_entry_that_does_not_chain_to_the_last_mac_is_a_conflict()
    {
        using IVaultStore store = Open(NewLocation());
        VaultCommit first = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"));
        store.Commit(first);
        VaultCommit forked = Commit(first.Entry.MerkleRoot.ToByteArray(), 2, first.Nodes, ("alice", "fork"));
        forked.Entry.PreviousMac = ByteString.CopyFrom(new byte[32]);

        StoreConflictException ex = Assert.ThrowsExactly<StoreConflictException>(() => store.Commit(forked));

        StringAssert.Contains(ex.Message, "log_entry.previous_mac");
        Assert.IsNull(store.FindLogEntry(2));
        Assert.AreEqual("a1", store.FindRecord(MerkleHashing.UserKey("alice"))!.Ciphertext.ToStringUtf8());
    }

    [TestMethod]
    public async Task Of_two_stores_appending_the_same_index_at_once_the_first_writer_wins()
    {
        string location = NewLocation();
        VaultCommit first = Commit(MerkleHashing.Empty.ToArray(), 1, NoNodes, ("alice", "a1"));
        using (IVaultStore seed = Open(location))
        {
            seed.Commit(first);
        }

        using IVaultStore left = Open(location);
        using IVaultStore right = Open(location);
        VaultCommit fromLeft = Commit(first.Entry.MerkleRoot.ToByteArray(), 2, first.Nodes, ("left", "l"));
        VaultCommit fromRight = Commit(first.Entry.MerkleRoot.ToByteArray(), 2, first.Nodes, ("right", "r"));
        using var start = new Barrier(2);
        Task<Exception?>[] attempts =
        [
            Task.Run(() => Attempt(left, fromLeft, start)),
            Task.Run(() => Attempt(right, fromRight, start)),
        ];
        Exception?[] outcomes = await Task.WhenAll(attempts);

        // Whichever ran first: one commit, one conflict, never two entries at index 2 or a half-written loser.
        Assert.AreEqual(1, outcomes.Count(o => o is null), string.Join("; ", outcomes.Select(o => o?.ToString() ?? "committed")));
        Assert.AreEqual(1, outcomes.Count(o => o is StoreConflictException), string.Join("; ", outcomes.Select(o => o?.ToString() ?? "committed")));
        bool leftWon = outcomes[0] is null;
        using IVaultStore after = Open(location);
        Assert.AreEqual(2UL, after.State.LogIndex);
        Assert.AreEqual(2L, after.State.RecordCount);
        Assert.AreEqual((leftWon ? fromLeft : fromRight).Entry, after.FindLogEntry(2));
        Assert.AreEqual(leftWon, after.FindRecord(MerkleHashing.UserKey("left")) is not null);
        Assert.AreEqual(!leftWon, after.FindRecord(MerkleHashing.UserKey("right")) is not null);
    }

    [TestMethod]
    public void Proofs_through_the_stores_nodes_equal_proofs_from_the_in_memory_store()
    {
        using IVaultStore store = Open(NewLocation());
        var storeTree = new SparseMerkleTree(store.Nodes);
        var memoryTree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        for (int i = 0; i < 60; i++)
        {
            byte[] key = MerkleHashing.UserKey($"user-{i}");
            byte[] value = MerkleHashing.UserKey($"value-{i}");
            storeTree.Set(key, value);
            memoryTree.Set(key, value);
        }

        for (int i = 0; i < 60; i += 3)
        {
            storeTree.Remove(MerkleHashing.UserKey($"user-{i}"));
            memoryTree.Remove(MerkleHashing.UserKey($"user-{i}"));
        }

        CollectionAssert.AreEqual(memoryTree.Root, storeTree.Root);
        for (int i = 0; i < 70; i += 7)
        {
            byte[] key = MerkleHashing.UserKey($"user-{i}");
            Assert.AreEqual(memoryTree.Prove(key), storeTree.Prove(key), $"proof for user-{i}");
        }
    }

    private static Exception? Attempt(IVaultStore store, VaultCommit commit, Barrier start)
    {
        start.SignalAndWait();
        try
        {
            store.Commit(commit);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    protected static IReadOnlyDictionary<byte[], MerkleNode> NoNodes => new Dictionary<byte[], MerkleNode>();

    /// <summary>The commit a batch writing these records would produce over the tree at <paramref name="root"/>.</summary>
    protected static VaultCommit Commit(byte[] root, ulong index, IReadOnlyDictionary<byte[], MerkleNode> existing, params (string User, string Ciphertext)[] records)
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

    // Entry i's MAC is i repeated; each entry chains to the one before it, as the enclave's do.
    protected static LogEntry Entry(ulong index, byte[] root) => new()
    {
        Index = index,
        PreviousMac = ByteString.CopyFrom(Enumerable.Repeat((byte)(index - 1), 32).ToArray()),
        MerkleRoot = ByteString.CopyFrom(root),
        Mac = ByteString.CopyFrom(Enumerable.Repeat((byte)index, 32).ToArray()),
    };

    private sealed record AlienNode : MerkleNode
    {
        public override byte[] ComputeHash() => new byte[32];
    }
}
