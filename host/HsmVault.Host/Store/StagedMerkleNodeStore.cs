using HsmVault.Protocol.Merkle;

namespace HsmVault.Host.Store;

/// <summary>
/// Collects the nodes a batch adds on top of the committed store without touching it, so they
/// can be written in the batch's transaction, or dropped if the batch fails.
/// </summary>
public sealed class StagedMerkleNodeStore : IMerkleNodeStore
{
    private readonly IMerkleNodeStore _committed;
    private readonly Dictionary<byte[], MerkleNode> _staged = new(ByteArrayComparer.Instance);

    public StagedMerkleNodeStore(IMerkleNodeStore committed)
    {
        _committed = committed ?? throw new ArgumentNullException(nameof(committed));
    }

    /// <summary>The nodes added since creation.</summary>
    public IReadOnlyDictionary<byte[], MerkleNode> Staged => _staged;

    /// <inheritdoc />
    public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node) =>
        _staged.TryGetValue(hash.ToArray(), out node!) || _committed.TryGet(hash, out node);

    /// <inheritdoc />
    public void Put(byte[] hash, MerkleNode node)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(node);
        _staged[hash] = node;
    }
}
