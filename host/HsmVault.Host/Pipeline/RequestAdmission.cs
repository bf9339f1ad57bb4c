using System.Threading.Channels;
using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// The queue between client connections and a pipeline's batching loop, for the single-HSM
/// pipeline and a fleet leader alike: at most <c>Host:MaxInFlightRequests</c> requests admitted at
/// once (BUSY above it), one reader (the loop), and UNAVAILABLE once the queue is closed for shutdown.
/// An admitted request is never cancelled: the enclave may already have counted it.
/// </summary>
internal sealed class RequestAdmission
{
    private readonly Channel<PendingOperation> _queue = Channel.CreateUnbounded<PendingOperation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly int _maxInFlight;
    private int _inFlight;

    public RequestAdmission(int maxInFlight)
    {
        _maxInFlight = maxInFlight;
    }

    /// <summary>What the batching loop reads.</summary>
    public ChannelReader<PendingOperation> Reader => _queue.Reader;

    /// <summary>Requests admitted and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Admits no more requests; those queued stay for the loop to answer or fail.</summary>
    public void Close() => _queue.Writer.TryComplete();

    /// <summary>Queues <paramref name="request"/> for user <paramref name="userId"/> and waits for its answer.</summary>
    public async Task<ClientResponse> SubmitAsync(ClientRequest request, ByteString userId)
    {
        if (Interlocked.Increment(ref _inFlight) > _maxInFlight)
        {
            Interlocked.Decrement(ref _inFlight);
            return ClientErrors.Create(request.RequestId, ErrorCode.Busy, "too many requests in flight; retry later");
        }

        try
        {
            byte[] id = userId.ToByteArray();
            var pending = new PendingOperation(request, id, MerkleHashing.UserKey(id));
            if (!_queue.Writer.TryWrite(pending))
            {
                return ClientErrors.Create(request.RequestId, ErrorCode.Unavailable, "the vault is shutting down; retry later");
            }

            return await pending.Completion.Task.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Answers every request still queued with <paramref name="code"/>.</summary>
    public void FailQueued(ErrorCode code, string message)
    {
        while (_queue.Reader.TryRead(out PendingOperation? pending))
        {
            pending.Fail(code, message);
        }
    }
}
