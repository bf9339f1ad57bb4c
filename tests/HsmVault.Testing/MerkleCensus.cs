using HsmVault.Protocol.Merkle;

namespace HsmVault.Testing;

/// <summary>What a tree's store holds: the nodes a root reaches, each counted once.</summary>
public static class MerkleCensus
{
    /// <summary>
    /// How many nodes <paramref name="root"/> reaches in <paramref name="nodes"/>; throws
    /// <see cref="MerkleProofException"/> (<see cref="MerkleProofError.MissingNode"/>) when one of them is not there.
    /// </summary>
    public static long Reachable(IMerkleNodeStore nodes, byte[] root)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        long count = 0;
        var pending = new Stack<byte[]>([root]);
        while (pending.TryPop(out byte[]? hash))
        {
            if (MerkleHashing.IsEmpty(hash))
            {
                continue;
            }

            if (!nodes.TryGet(hash, out MerkleNode node))
            {
                throw new MerkleProofException(MerkleProofError.MissingNode, $"node {Convert.ToHexStringLower(hash)[..16]}…, which the root reaches, is not in the store");
            }

            count++;
            if (node is MerkleInteriorNode interior)
            {
                pending.Push(interior.Left);
                pending.Push(interior.Right);
            }
        }

        return count;
    }
}
