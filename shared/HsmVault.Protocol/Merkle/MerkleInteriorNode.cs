namespace HsmVault.Protocol.Merkle;

/// <summary>An interior node: the hashes of its two children (32 zero bytes for an empty child).</summary>
public sealed record MerkleInteriorNode(byte[] Left, byte[] Right) : MerkleNode
{
    /// <inheritdoc />
    public override byte[] ComputeHash() => MerkleHashing.Interior(Left, Right);
}
