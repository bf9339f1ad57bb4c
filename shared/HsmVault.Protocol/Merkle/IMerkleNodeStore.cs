namespace HsmVault.Protocol.Merkle;

/// <summary>
/// Content-addressed storage of tree nodes: a node is stored under its own hash, so a stored
/// node can never be swapped for another, and old roots stay readable until pruned. The host
/// backs it with its database; the enclave fills a small in-memory one from proofs per batch.
/// </summary>
public interface IMerkleNodeStore
{
    /// <summary>Looks up the node whose hash is <paramref name="hash"/>.</summary>
    bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node);

    /// <summary>Stores <paramref name="node"/> under <paramref name="hash"/>, which the caller computed from it.</summary>
    void Put(byte[] hash, MerkleNode node);
}
