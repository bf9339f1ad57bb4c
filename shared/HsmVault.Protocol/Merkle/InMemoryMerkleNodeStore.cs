using System.Buffers.Binary;

namespace HsmVault.Protocol.Merkle;

/// <summary>An <see cref="IMerkleNodeStore"/> in a dictionary: for tests, tools and the enclave's per-batch scratch tree.</summary>
public sealed class InMemoryMerkleNodeStore : IMerkleNodeStore
{
    private readonly Dictionary<byte[], MerkleNode> _nodes = new(HashComparer.Instance);

    /// <summary>Number of stored nodes.</summary>
    public int Count => _nodes.Count;

    /// <inheritdoc />
    public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node) =>
        _nodes.TryGetValue(hash.ToArray(), out node!);

    /// <inheritdoc />
    public void Put(byte[] hash, MerkleNode node)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(node);
        _nodes[hash] = node;
    }

    private sealed class HashComparer : IEqualityComparer<byte[]>
    {
        public static HashComparer Instance { get; } = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        // Node hashes are SHA-256 outputs, so their first bytes are already uniform.
        public int GetHashCode(byte[] obj) => obj.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(obj) : obj.Length;
    }
}
