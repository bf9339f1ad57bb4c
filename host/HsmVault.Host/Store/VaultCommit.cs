using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Store;

/// <summary>
/// Everything one enclave batch changed, written in one transaction: the log entry, the record
/// writes (a write without a record deletes it), the new tree nodes keyed by their hash, and the
/// tree nodes the batch made unreachable (<see cref="Obsolete"/>), which the store deletes in the
/// same transaction so that it keeps the live tree and nothing else.
/// </summary>
public sealed record VaultCommit(LogEntry Entry, IReadOnlyList<RecordWrite> Writes, IReadOnlyDictionary<byte[], MerkleNode> Nodes)
{
    /// <summary>Hashes of nodes of the previous tree that the new root no longer reaches; none unless given.</summary>
    public IReadOnlyCollection<byte[]> Obsolete { get; init; } = [];

    /// <summary>
    /// The commit of a batch whose writes moved the tree from <paramref name="oldRoot"/> to the root in
    /// <paramref name="entry"/>, over <paramref name="staged"/> (the committed nodes plus those the
    /// writes added). Only the staged nodes the new tree reaches are kept, and the old tree's nodes it
    /// no longer reaches are named obsolete. Both are found by walking the written keys' paths: a node
    /// holding a key lies on that key's path, so a node that changed lies on a written key's old path
    /// and its replacement on the new one. The one exception is a leaf that a new key's insertion
    /// pushed down: it ends the old path without holding the key, and it stays in the tree.
    /// </summary>
    public static VaultCommit Pruning(LogEntry entry, IReadOnlyList<RecordWrite> writes, StagedMerkleNodeStore staged, ReadOnlySpan<byte> oldRoot)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(writes);
        ArgumentNullException.ThrowIfNull(staged);
        byte[][] keys = [.. writes.Select(w => w.Key.ToByteArray()).Distinct(ByteArrayComparer.Instance)];
        var live = new HashSet<byte[]>(ByteArrayComparer.Instance);
        byte[] newRoot = entry.MerkleRoot.ToByteArray();
        foreach (byte[] key in keys)
        {
            Walk(staged, newRoot, key, live, keepForeignLeaf: true);
        }

        var dead = new HashSet<byte[]>(ByteArrayComparer.Instance);
        byte[] old = oldRoot.ToArray();
        foreach (byte[] key in keys)
        {
            Walk(staged, old, key, dead, keepForeignLeaf: false);
        }

        dead.ExceptWith(live);
        var nodes = new Dictionary<byte[], MerkleNode>(ByteArrayComparer.Instance);
        foreach ((byte[] hash, MerkleNode node) in staged.Staged)
        {
            // A node staged and then replaced within the same batch is never written.
            if (live.Contains(hash))
            {
                nodes[hash] = node;
            }
        }

        return new VaultCommit(entry, writes, nodes) { Obsolete = [.. dead] };
    }

    // Adds the hashes on `key`'s path from `root`; a terminal leaf of another key only when asked.
    private static void Walk(IMerkleNodeStore store, byte[] root, byte[] key, HashSet<byte[]> into, bool keepForeignLeaf)
    {
        byte[] hash = root;
        for (int depth = 0; !MerkleHashing.IsEmpty(hash); depth++)
        {
            if (!store.TryGet(hash, out MerkleNode node))
            {
                throw new MerkleProofException(MerkleProofError.MissingNode, $"tree node at depth {depth}: not in the store while pruning");
            }

            if (node is MerkleLeafNode leaf)
            {
                if (keepForeignLeaf || leaf.Key.AsSpan().SequenceEqual(key))
                {
                    into.Add(hash);
                }

                return;
            }

            into.Add(hash);
            var interior = (MerkleInteriorNode)node;
            hash = MerkleHashing.Bit(key, depth) == 0 ? interior.Left : interior.Right;
        }
    }
}
