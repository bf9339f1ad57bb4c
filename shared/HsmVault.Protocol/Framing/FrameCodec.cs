using System.Buffers.Binary;
using Google.Protobuf;

namespace HsmVault.Protocol.Framing;

/// <summary>
/// Length-prefixed protobuf frames: a 4-byte big-endian payload length, then the payload.
/// Used on every HsmVault stream (client to host, host to HSM bridge). A frame larger than
/// <see cref="MaxFrameBytes"/> is refused before any payload is read, so a peer cannot make
/// the reader allocate more than that.
/// </summary>
public sealed class FrameCodec
{
    /// <summary>The default maximum payload: 64 KiB, far above any HsmVault message.</summary>
    public const int DefaultMaxFrameBytes = 64 * 1024;

    private const int PrefixBytes = 4;

    public FrameCodec(int maxFrameBytes = DefaultMaxFrameBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameBytes);
        MaxFrameBytes = maxFrameBytes;
    }

    /// <summary>The largest payload, in bytes, this codec reads or writes.</summary>
    public int MaxFrameBytes { get; }

    /// <summary>Encodes <paramref name="message"/> as one frame (prefix and payload).</summary>
    public byte[] Encode(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        int size = message.CalculateSize();
        ThrowIfTooLarge(size);
        byte[] frame = new byte[PrefixBytes + size];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)size);
        message.WriteTo(frame.AsSpan(PrefixBytes));
        return frame;
    }

    /// <summary>Writes <paramref name="message"/> as one frame and flushes the stream.</summary>
    public async ValueTask WriteAsync(Stream stream, IMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] frame = Encode(message);
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes an already-serialised payload as one frame and flushes the stream.</summary>
    public async ValueTask WritePayloadAsync(Stream stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ThrowIfTooLarge(payload.Length);
        byte[] frame = new byte[PrefixBytes + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        payload.Span.CopyTo(frame.AsSpan(PrefixBytes));
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one frame's payload. Returns null when the stream ends cleanly before a new frame
    /// starts; throws <see cref="FrameFormatException"/> when it ends inside a frame or the
    /// announced length exceeds <see cref="MaxFrameBytes"/>.
    /// </summary>
    public async ValueTask<byte[]?> ReadPayloadAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] prefix = new byte[PrefixBytes];
        int read = await ReadUpToAsync(stream, prefix, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return null;
        }

        if (read < PrefixBytes)
        {
            throw new FrameFormatException(
                FrameFormatError.Truncated,
                $"frame length prefix: the stream ended after {read} of {PrefixBytes} bytes");
        }

        uint length = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (length > (uint)MaxFrameBytes)
        {
            throw new FrameFormatException(
                FrameFormatError.TooLarge,
                $"frame length prefix: {length} bytes announced, the maximum is {MaxFrameBytes}");
        }

        byte[] payload = new byte[length];
        read = await ReadUpToAsync(stream, payload, cancellationToken).ConfigureAwait(false);
        if (read < payload.Length)
        {
            throw new FrameFormatException(
                FrameFormatError.Truncated,
                $"frame payload: the stream ended after {read} of {length} bytes");
        }

        return payload;
    }

    /// <summary>
    /// Reads one frame and parses it with <paramref name="parser"/>. Returns null at a clean end
    /// of stream; throws <see cref="FrameFormatException"/> for a truncated, oversized or
    /// unparsable frame.
    /// </summary>
    public async ValueTask<T?> ReadAsync<T>(Stream stream, MessageParser<T> parser, CancellationToken cancellationToken = default)
        where T : class, IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(parser);
        byte[]? payload = await ReadPayloadAsync(stream, cancellationToken).ConfigureAwait(false);
        return payload is null ? null : Parse(payload, parser);
    }

    /// <summary>Parses a payload, mapping protobuf failures to <see cref="FrameFormatError.Malformed"/>.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> payload, MessageParser<T> parser)
        where T : class, IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(parser);
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FrameFormatException(
                FrameFormatError.Malformed,
                $"frame payload: not a valid {typeof(T).Name} ({ex.Message})",
                ex);
        }
    }

    private void ThrowIfTooLarge(int size)
    {
        if (size > MaxFrameBytes)
        {
            throw new FrameFormatException(
                FrameFormatError.TooLarge,
                $"message: {size} bytes, the maximum frame is {MaxFrameBytes}");
        }
    }

    private static async ValueTask<int> ReadUpToAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
