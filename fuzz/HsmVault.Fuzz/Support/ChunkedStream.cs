namespace HsmVault.Fuzz.Support;

/// <summary>A read-only stream over bytes that hands out at most <c>chunk</c> bytes per read, as a slow or fragmenting peer does.</summary>
public sealed class ChunkedStream(byte[] data, int chunk) : MemoryStream(data, writable: false)
{
    private readonly int _chunk = Math.Max(1, chunk);

    public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, _chunk));

    public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, _chunk)]);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        base.ReadAsync(buffer, offset, Math.Min(count, _chunk), cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        base.ReadAsync(buffer[..Math.Min(buffer.Length, _chunk)], cancellationToken);
}
