using System.Buffers.Binary;

namespace HsmVault.Host.Listener;

/// <summary>
/// Reads length-prefixed client frames (FrameCodec format) with two clocks: the idle timeout
/// runs until a frame's first byte arrives, the read timeout from then until its last byte, so a
/// client that trickles bytes cannot hold a connection open longer than the read timeout.
/// </summary>
internal sealed class ClientFrameReader
{
    private const int PrefixBytes = 4;

    private readonly Stream _stream;
    private readonly int _maxFrameBytes;
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _readTimeout;
    private readonly byte[] _prefix = new byte[PrefixBytes];

    public ClientFrameReader(Stream stream, int maxFrameBytes, TimeSpan idleTimeout, TimeSpan readTimeout)
    {
        _stream = stream;
        _maxFrameBytes = maxFrameBytes;
        _idleTimeout = idleTimeout;
        _readTimeout = readTimeout;
    }

    /// <summary>
    /// Reads the next frame. <paramref name="stopWaiting"/> ends an idle wait (drain);
    /// <paramref name="abort"/> ends everything.
    /// </summary>
    public async Task<(FrameReadOutcome Outcome, byte[]? Payload, long AnnouncedLength)> ReadAsync(CancellationToken stopWaiting, CancellationToken abort)
    {
        int first;
        using (var idle = CancellationTokenSource.CreateLinkedTokenSource(stopWaiting, abort))
        {
            idle.CancelAfter(_idleTimeout);
            try
            {
                first = await _stream.ReadAsync(_prefix.AsMemory(0, PrefixBytes), idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!abort.IsCancellationRequested)
            {
                return (FrameReadOutcome.Idle, null, 0);
            }
        }

        if (first == 0)
        {
            return (FrameReadOutcome.Closed, null, 0);
        }

        using var read = CancellationTokenSource.CreateLinkedTokenSource(abort);
        read.CancelAfter(_readTimeout);
        try
        {
            if (!await FillAsync(_prefix.AsMemory(first), read.Token).ConfigureAwait(false))
            {
                return (FrameReadOutcome.Incomplete, null, 0);
            }

            uint length = BinaryPrimitives.ReadUInt32BigEndian(_prefix);
            if (length > (uint)_maxFrameBytes)
            {
                return (FrameReadOutcome.TooLarge, null, length);
            }

            byte[] payload = new byte[length];
            return await FillAsync(payload, read.Token).ConfigureAwait(false)
                ? (FrameReadOutcome.Frame, payload, length)
                : (FrameReadOutcome.Incomplete, null, length);
        }
        catch (OperationCanceledException) when (!abort.IsCancellationRequested)
        {
            return (FrameReadOutcome.Incomplete, null, 0);
        }
    }

    private async Task<bool> FillAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (buffer.Length > 0)
        {
            int n = await _stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            buffer = buffer[n..];
        }

        return true;
    }
}
