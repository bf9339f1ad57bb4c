using HsmVault.Protocol.Merkle;

namespace HsmVault.Host.Store;

/// <summary>
/// The row form of a Merkle node, shared by the SQL stores: <c>kind</c> 0 is a leaf (key, value
/// hash), 1 an interior node (left, right child hashes), so both stores read each other's dumps alike.
/// </summary>
internal static class MerkleNodeRows
{
    public const short LeafKind = 0;
    public const short InteriorKind = 1;

    /// <summary>The columns of <paramref name="node"/>; throws for a node type the stores cannot keep.</summary>
    public static (short Kind, byte[] A, byte[] B) ToRow(MerkleNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node switch
        {
            MerkleLeafNode leaf => (LeafKind, leaf.Key, leaf.ValueHash),
            MerkleInteriorNode interior => (InteriorKind, interior.Left, interior.Right),
            _ => throw new ArgumentException($"node: unsupported node type {node.GetType().Name}", nameof(node)),
        };
    }

    /// <summary>The node a row describes; throws <see cref="InvalidDataException"/> for an unknown kind.</summary>
    public static MerkleNode FromRow(long kind, byte[] a, byte[] b) => kind switch
    {
        LeafKind => new MerkleLeafNode(a, b),
        InteriorKind => new MerkleInteriorNode(a, b),
        _ => throw new InvalidDataException($"merkle_nodes.kind: {kind} is neither a leaf (0) nor an interior node (1)"),
    };
}

/// <summary>
/// The read cache of a node store. Nodes are content-addressed, so a node read once stays right
/// for good; the cache is bounded and simply emptied when full (the hot upper levels refill at once).
/// Only nodes read back from committed rows go in, never nodes of a transaction that may roll back.
/// </summary>
internal sealed class MerkleNodeCache
{
    private readonly Dictionary<byte[], MerkleNode> _nodes = new(ByteArrayComparer.Instance);
    private readonly int _capacity;

    public MerkleNodeCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
    }

    public bool TryGet(byte[] hash, out MerkleNode node) => _nodes.TryGetValue(hash, out node!);

    public void Add(byte[] hash, MerkleNode node)
    {
        if (_capacity == 0)
        {
            return;
        }

        if (_nodes.Count >= _capacity)
        {
            _nodes.Clear();
        }

        _nodes[hash] = node;
    }
}
