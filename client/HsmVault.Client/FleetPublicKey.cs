using System.Security.Cryptography;

namespace HsmVault.Client;

/// <summary>
/// The fleet's AKE public key the client pins: a SEC1 compressed P-256 point (33 bytes,
/// first byte 0x02 or 0x03). It is public; pinning it is what stops a different server from
/// taking a registration or a password guess.
/// </summary>
public sealed class FleetPublicKey
{
    /// <summary>Length of a SEC1 compressed P-256 point.</summary>
    public const int Length = 33;

    private readonly byte[] _bytes;

    private FleetPublicKey(byte[] bytes) => _bytes = bytes;

    /// <summary>The key as lower-case hex (66 characters).</summary>
    public string Hex => Convert.ToHexStringLower(_bytes);

    /// <summary>A copy of the 33 key bytes.</summary>
    public byte[] ToArray() => (byte[])_bytes.Clone();

    internal ReadOnlySpan<byte> Span => _bytes;

    /// <summary>True when <paramref name="other"/> is exactly this key.</summary>
    public bool Matches(ReadOnlySpan<byte> other) => CryptographicOperations.FixedTimeEquals(_bytes, other);

    /// <summary>Wraps 33 key bytes; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static FleetPublicKey FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            throw new FormatException($"fleet key: must be {Length} bytes (SEC1 compressed P-256), got {bytes.Length}");
        }

        if (bytes[0] is not (0x02 or 0x03))
        {
            throw new FormatException($"fleet key: first byte must be 0x02 or 0x03 (SEC1 compressed), got 0x{bytes[0]:x2}");
        }

        return new FleetPublicKey(bytes.ToArray());
    }

    /// <summary>
    /// Parses the key from 66 hex characters or from base64 of the 33 bytes (surrounding white
    /// space ignored); throws <see cref="FormatException"/> naming what is wrong.
    /// </summary>
    public static FleetPublicKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            throw new FormatException("fleet key: empty");
        }

        if (trimmed.Length == Length * 2 && IsHex(trimmed))
        {
            return FromBytes(Convert.FromHexString(trimmed));
        }

        byte[] decoded = new byte[trimmed.Length];
        if (Convert.TryFromBase64String(trimmed, decoded, out int written))
        {
            return FromBytes(decoded.AsSpan(0, written));
        }

        throw new FormatException($"fleet key: expected {Length * 2} hex characters or base64 of {Length} bytes, got {trimmed.Length} characters that are neither");
    }

    public override string ToString() => Hex;

    private static bool IsHex(string text) => text.All(Uri.IsHexDigit);
}
