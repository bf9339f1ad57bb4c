namespace HsmVault.Protocol.Merkle;

/// <summary>A leaf: the user key (SHA-256 of the user id) and the hash of the user's sealed record.</summary>
public sealed record MerkleLeafNode(byte[] Key, byte[] ValueHash) : MerkleNode
{
    /// <inheritdoc />
    public override byte[] ComputeHash() => MerkleHashing.Leaf(Key, ValueHash);
}
