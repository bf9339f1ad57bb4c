using System.Threading.Channels;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// Admission into a batch, for the single-HSM pipeline and a fleet leader alike: requests carried over
/// from the last batch first, then new ones, up to the limit, at most one per user (the enclave
/// applies one write per user per batch; a second request for the same user waits for the next).
/// </summary>
internal static class BatchCollector
{
    /// <summary>The next batch, and what is carried to the one after it, in order.</summary>
    public static (List<PendingOperation> Batch, List<PendingOperation> Carry) Collect(
        IReadOnlyList<PendingOperation> carry, ChannelReader<PendingOperation> queue, int limit)
    {
        var batch = new List<PendingOperation>();
        var users = new HashSet<byte[]>(Store.ByteArrayComparer.Instance);
        var deferred = new List<PendingOperation>();
        var candidates = new Queue<PendingOperation>(carry);
        while (batch.Count < limit)
        {
            PendingOperation? next = candidates.Count > 0 ? candidates.Dequeue()
                : queue.TryRead(out PendingOperation? read) ? read : null;
            if (next is null)
            {
                break;
            }

            if (users.Add(next.Key))
            {
                batch.Add(next);
            }
            else
            {
                deferred.Add(next);
            }
        }

        return (batch, [.. deferred, .. candidates]);
    }
}
