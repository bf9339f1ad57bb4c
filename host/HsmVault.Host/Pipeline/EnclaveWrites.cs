using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// The host's check of what an enclave returns for a batch, shared by the single-HSM pipeline and a
/// fleet leader's host: every record write names its user's tree key, and the writes, applied to the
/// store's tree, lead exactly to the root the enclave put in its log entry. A host that stored
/// anything else would hand the next batch witnesses the enclave refuses.
/// </summary>
internal static class EnclaveWrites
{
    // Applies record writes to the store's tree and checks they lead to the root the enclave committed.
    public static string? Apply(SparseMerkleTree tree, IReadOnlyList<RecordWrite> writes, ReadOnlySpan<byte> committedRoot, string field)
    {
        try
        {
            foreach (RecordWrite write in writes)
            {
                if (!write.Key.Span.SequenceEqual(MerkleHashing.UserKey(write.UserId.Span)))
                {
                    return $"{field}.writes: a key is not SHA-256 of its user id";
                }

                if (write.Record is null)
                {
                    tree.Remove(write.Key.Span);
                }
                else
                {
                    tree.Set(write.Key.Span, MerkleHashing.RecordValueHash(write.Record));
                }
            }
        }
        catch (Exception ex) when (ex is MerkleProofException or ArgumentException)
        {
            return $"{field}.writes: cannot be applied to the store's tree ({ex.Message})";
        }

        return tree.Root.AsSpan().SequenceEqual(committedRoot)
            ? null
            : $"{field}.entry.merkle_root: differs from the root the writes give over the store's tree";
    }
}
