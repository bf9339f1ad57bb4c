using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>
/// One batch in flight: a scratch Merkle tree rooted at the committed root, filled only with the
/// nodes the batch's proofs imply, and the leaf updates and record writes the batch has made so
/// far. It lives for one request, so enclave memory is bounded by the batch size, not the number
/// of records. Nothing here is durable until <see cref="VaultEnclave"/> writes NVRAM.
/// </summary>
internal sealed class BatchContext
{
    private readonly InMemoryMerkleNodeStore _scratch = new();
    private readonly HashSet<string> _writtenKeys = [];

    public BatchContext(CommittedState committed)
    {
        Committed = committed;
        Tree = new SparseMerkleTree(_scratch, committed.MerkleRoot);
    }

    public CommittedState Committed { get; }

    /// <summary>The version every record written by this batch gets: the index of the entry that will commit it.</summary>
    public ulong Version => Committed.LogIndex + 1;

    public SparseMerkleTree Tree { get; }

    public List<LeafUpdate> Updates { get; } = [];

    public List<RecordWrite> Writes { get; } = [];

    public IMerkleNodeStore Scratch => _scratch;

    /// <summary>Whether an earlier operation of this batch already wrote <paramref name="key"/>.</summary>
    public bool WasWritten(ReadOnlySpan<byte> key) => _writtenKeys.Contains(Convert.ToHexString(key));

    public void Write(ReadOnlySpan<byte> userId, byte[] key, SealedRecord record)
    {
        byte[] valueHash = MerkleHashing.RecordValueHash(record);
        Tree.Set(key, valueHash);
        _writtenKeys.Add(Convert.ToHexString(key));
        Updates.Add(new LeafUpdate { Key = ByteString.CopyFrom(key), ValueHash = ByteString.CopyFrom(valueHash) });
        Writes.Add(new RecordWrite { UserId = ByteString.CopyFrom(userId), Key = ByteString.CopyFrom(key), Record = record });
    }
}
