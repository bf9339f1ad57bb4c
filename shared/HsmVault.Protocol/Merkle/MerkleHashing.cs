using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Protocol.V1;

namespace HsmVault.Protocol.Merkle;

/// <summary>
/// The hashing rules of the record tree (see merkle.proto). Leaves and interior nodes carry
/// distinct one-byte prefixes so neither can pass for the other.
/// </summary>
public static class MerkleHashing
{
    /// <summary>Bytes in every hash and key.</summary>
    public const int HashBytes = 32;

    /// <summary>Bits in a key, hence the deepest possible leaf.</summary>
    public const int KeyBits = HashBytes * 8;

    private const byte LeafPrefix = 0x00;
    private const byte InteriorPrefix = 0x01;

    /// <summary>The hash of an empty subtree: 32 zero bytes. Never the hash of a real node.</summary>
    public static ReadOnlySpan<byte> Empty => new byte[HashBytes];

    /// <summary>The tree key of a user: SHA-256 of the user id bytes.</summary>
    public static byte[] UserKey(ReadOnlySpan<byte> userId) => SHA256.HashData(userId);

    /// <summary>The tree key of a user id given as text (UTF-8).</summary>
    public static byte[] UserKey(string userId) => UserKey(Encoding.UTF8.GetBytes(userId));

    /// <summary>The value hash of a sealed record: SHA-256(fixed64_be(version) || ciphertext).</summary>
    public static byte[] RecordValueHash(SealedRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> version = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(version, record.Version);
        hash.AppendData(version);
        hash.AppendData(record.Ciphertext.Span);
        return hash.GetHashAndReset();
    }

    /// <summary>SHA-256(0x00 || key || valueHash).</summary>
    public static byte[] Leaf(ReadOnlySpan<byte> key, ReadOnlySpan<byte> valueHash)
    {
        RequireHashLength(key, nameof(key));
        RequireHashLength(valueHash, nameof(valueHash));
        Span<byte> input = stackalloc byte[1 + HashBytes + HashBytes];
        input[0] = LeafPrefix;
        key.CopyTo(input[1..]);
        valueHash.CopyTo(input[(1 + HashBytes)..]);
        return SHA256.HashData(input);
    }

    /// <summary>SHA-256(0x01 || left || right).</summary>
    public static byte[] Interior(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        RequireHashLength(left, nameof(left));
        RequireHashLength(right, nameof(right));
        Span<byte> input = stackalloc byte[1 + HashBytes + HashBytes];
        input[0] = InteriorPrefix;
        left.CopyTo(input[1..]);
        right.CopyTo(input[(1 + HashBytes)..]);
        return SHA256.HashData(input);
    }

    /// <summary>Whether <paramref name="hash"/> is the empty-subtree hash.</summary>
    public static bool IsEmpty(ReadOnlySpan<byte> hash) => hash.IndexOfAnyExcept((byte)0) < 0;

    /// <summary>Bit <paramref name="index"/> of <paramref name="key"/>, most significant bit of byte 0 first: 0 goes left, 1 right.</summary>
    public static int Bit(ReadOnlySpan<byte> key, int index) => (key[index >> 3] >> (7 - (index & 7))) & 1;

    /// <summary>Whether the first <paramref name="bits"/> bits of the two keys agree.</summary>
    public static bool SharePrefix(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int bits)
    {
        int whole = bits >> 3;
        if (!a[..whole].SequenceEqual(b[..whole]))
        {
            return false;
        }

        int rest = bits & 7;
        if (rest == 0)
        {
            return true;
        }

        int mask = 0xFF << (8 - rest) & 0xFF;
        return ((a[whole] ^ b[whole]) & mask) == 0;
    }

    private static void RequireHashLength(ReadOnlySpan<byte> value, string field)
    {
        if (value.Length != HashBytes)
        {
            throw new MerkleProofException(MerkleProofError.Malformed, $"{field}: {value.Length} bytes, expected {HashBytes}");
        }
    }
}
