using HsmVault.Protocol.Merkle;

namespace HsmVault.Testing;

/// <summary>What a tree's store holds: the nodes a root reaches, each counted once, and its leaves.</summary>
public static class MerkleCensus
{
    /// <summary>
    /// How many nodes <paramref name="root"/> reaches in <paramref name="nodes"/>; throws
    /// <see cref="MerkleProofException"/> (<see cref="MerkleProofError.MissingNode"/>) when one of them is not there.
    /// </summary>
    public static long Reachable(IMerkleNodeStore nodes, byte[] root)
    {
        var problems = new List<string>();
        (long reachable, _) = Walk(nodes, root, problems);
        return problems.Count == 0 ? reachable : throw new MerkleProofException(MerkleProofError.MissingNode, problems[0]);
    }

    /// <summary>
    /// The nodes <paramref name="root"/> reaches and the leaves among them (value hash by key, in
    /// hex); each node the root names but the store lacks is added to <paramref name="problems"/>.
    /// </summary>
    public static (long Reachable, Dictionary<string, byte[]> Leaves) Walk(IMerkleNodeStore nodes, byte[] root, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(problems);
        var leaves = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        long reachable = 0;
        var pending = new Stack<byte[]>([root]);
        while (pending.TryPop(out byte[]? hash))
        {
            if (MerkleHashing.IsEmpty(hash))
            {
                continue;
            }

            if (!nodes.TryGet(hash, out MerkleNode node))
            {
                problems.Add($"node {Convert.ToHexStringLower(hash)[..16]}…, which the root reaches, is not in the store");
                continue;
            }

            reachable++;
            switch (node)
            {
                case MerkleLeafNode leaf:
                    leaves[Convert.ToHexString(leaf.Key)] = leaf.ValueHash;
                    break;
                case MerkleInteriorNode interior:
                    pending.Push(interior.Left);
                    pending.Push(interior.Right);
                    break;
            }
        }

        return (reachable, leaves);
    }
}
