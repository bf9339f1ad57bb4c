namespace HsmVault.Protocol.Merkle;

/// <summary>A stored node of the sparse Merkle tree: a <see cref="MerkleLeafNode"/> or a <see cref="MerkleInteriorNode"/>.</summary>
public abstract record MerkleNode
{
    /// <summary>The node's hash under <see cref="MerkleHashing"/>.</summary>
    public abstract byte[] ComputeHash();
}
