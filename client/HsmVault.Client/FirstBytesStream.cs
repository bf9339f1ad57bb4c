namespace HsmVault.Client;

/// <summary>
/// Passes a connection's stream through and keeps the first bytes the peer sent, so that a frame
/// error can say what actually answered (an HTTP server, say) instead of quoting a length prefix
/// made of its letters.
/// </summary>
internal sealed class FirstBytesStream(Stream inner) : Stream
{
    private const int Kept = 8;
    private readonly byte[] _first = new byte[Kept];
    private int _count;

    /// <summary>The first bytes read from the peer (at most 8).</summary>
    public ReadOnlySpan<byte> First => _first.AsSpan(0, _count);

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Keep(buffer.AsSpan(offset, inner.Read(buffer, offset, count)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Keep(buffer.Span[..n]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Keep(ReadOnlySpan<byte> read)
    {
        int take = Math.Min(read.Length, Kept - _count);
        if (take > 0)
        {
            read[..take].CopyTo(_first.AsSpan(_count));
            _count += take;
        }

        return read.Length;
    }
}
