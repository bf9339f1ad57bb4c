using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Testing;

/// <summary>
/// The record half of an honest host's store, in memory: the sealed records and the Merkle tree
/// over them, the witnesses built from them, and the enclave's record writes applied to them.
/// </summary>
public sealed class InMemoryRecordStore
{
    private readonly Dictionary<string, SealedRecord> _records = [];

    public InMemoryRecordStore(ReadOnlySpan<byte> root) => Tree = new SparseMerkleTree(new InMemoryMerkleNodeStore(), root);

    public InMemoryRecordStore() => Tree = new SparseMerkleTree(new InMemoryMerkleNodeStore());

    public SparseMerkleTree Tree { get; }

    /// <summary>The user's record (a copy, so a test that tampers with it cannot change the store) and its proof.</summary>
    public RecordWitness WitnessFor(ByteString userId)
    {
        ArgumentNullException.ThrowIfNull(userId);
        byte[] key = MerkleHashing.UserKey(userId.Span);
        var witness = new RecordWitness { Proof = Tree.Prove(key) };
        if (_records.TryGetValue(Convert.ToHexString(key), out SealedRecord? record))
        {
            witness.Record = record.Clone();
        }

        return witness;
    }

    public void Apply(IEnumerable<RecordWrite> writes)
    {
        ArgumentNullException.ThrowIfNull(writes);
        foreach (RecordWrite write in writes)
        {
            string key = Convert.ToHexString(write.Key.Span);
            if (write.Record is null)
            {
                Tree.Remove(write.Key.Span);
                _records.Remove(key);
            }
            else
            {
                Tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
                _records[key] = write.Record;
            }
        }
    }
}
