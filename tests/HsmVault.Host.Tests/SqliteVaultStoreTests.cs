using Google.Protobuf;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

[TestClass]
public sealed class SqliteVaultStoreTests : VaultStoreContract
{
    private readonly List<TempDirectory> _directories = [];

    protected override string NewLocation()
    {
        var directory = new TempDirectory();
        _directories.Add(directory);
        return directory.File("s.db");
    }

    protected override IVaultStore Open(string location) => SqliteVaultStore.Open(location);

    [TestCleanup]
    public void DeleteDirectories()
    {
        foreach (TempDirectory directory in _directories)
        {
            directory.Dispose();
        }
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

    private static Microsoft.Data.Sqlite.SqliteConnection ConnectionOf(string path)
    {
        var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        SqliteMerkleNodeStore.CreateSchema(connection, null);
        return connection;
    }
}
