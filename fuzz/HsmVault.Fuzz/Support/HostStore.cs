using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Support;

/// <summary>
/// An honest host's record store in miniature: sealed records by user key and the Merkle tree over
/// them, built once by a fixture and then only read. <see cref="Fork"/> gives a per-input copy whose
/// writes go to an overlay, so no input changes what the next one sees.
/// </summary>
public sealed class HostStore
{
    private readonly IMerkleNodeStore _nodes;
    private readonly Dictionary<string, SealedRecord> _records;

    public HostStore()
        : this(new InMemoryMerkleNodeStore(), MerkleHashing.Empty, [])
    {
    }

    private HostStore(IMerkleNodeStore nodes, ReadOnlySpan<byte> root, Dictionary<string, SealedRecord> records)
    {
        _nodes = nodes;
        _records = records;
        Tree = new SparseMerkleTree(nodes, root);
    }

    public SparseMerkleTree Tree { get; }

    /// <summary>A copy over the same nodes: reads see this store, writes stay in the copy.</summary>
    public HostStore Fork() => new(new OverlayNodeStore(_nodes), Tree.Root, new Dictionary<string, SealedRecord>(_records));

    public RecordWitness WitnessFor(ReadOnlySpan<byte> userId)
    {
        byte[] key = MerkleHashing.UserKey(userId);
        var witness = new RecordWitness { Proof = Tree.Prove(key) };
        if (_records.TryGetValue(Convert.ToHexString(key), out SealedRecord? record))
        {
            witness.Record = record.Clone();
        }

        return witness;
    }

    /// <summary>Puts a record in place as a host would after a write (or as a test rig planting one).</summary>
    public void Put(ReadOnlySpan<byte> key, SealedRecord record)
    {
        Tree.Set(key, MerkleHashing.RecordValueHash(record));
        _records[Convert.ToHexString(key)] = record;
    }

    public void Apply(IEnumerable<RecordWrite> writes)
    {
        foreach (RecordWrite write in writes)
        {
            if (write.Record is null)
            {
                Tree.Remove(write.Key.Span);
                _records.Remove(Convert.ToHexString(write.Key.Span));
            }
            else
            {
                Put(write.Key.Span, write.Record);
            }
        }
    }

    /// <summary>Applies an enclave's writes to a copy and checks they lead to the root its entry names.</summary>
    public void CheckWritesLeadTo(IEnumerable<RecordWrite> writes, ByteString root, string what)
    {
        HostStore copy = Fork();
        copy.Apply(writes);
        if (!copy.Tree.Root.AsSpan().SequenceEqual(root.Span))
        {
            throw new FuzzFindingException($"{what}: the writes do not lead to the entry's Merkle root");
        }
    }

    private sealed class OverlayNodeStore(IMerkleNodeStore under) : IMerkleNodeStore
    {
        private readonly InMemoryMerkleNodeStore _added = new();

        public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node) => _added.TryGet(hash, out node) || under.TryGet(hash, out node);

        public void Put(byte[] hash, MerkleNode node) => _added.Put(hash, node);
    }
}
