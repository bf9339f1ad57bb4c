using HsmVault.Protocol.Merkle;

namespace HsmVault.Host.Tests;

/// <summary>What a store's tree holds: the nodes its root reaches, and the rows its table has.</summary>
internal static class TreeRows
{
    /// <summary>The nodes <paramref name="root"/> reaches, each counted once; fails when one of them is missing.</summary>
    public static long Reachable(IMerkleNodeStore nodes, byte[] root)
    {
        long count = 0;
        var pending = new Stack<byte[]>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            byte[] hash = pending.Pop();
            if (MerkleHashing.IsEmpty(hash))
            {
                continue;
            }

            Assert.IsTrue(nodes.TryGet(hash, out MerkleNode node), "a node the root reaches is not in the store");
            count++;
            if (node is MerkleInteriorNode interior)
            {
                pending.Push(interior.Left);
                pending.Push(interior.Right);
            }
        }

        return count;
    }

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
