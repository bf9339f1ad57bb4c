using System.Security.Cryptography;

namespace HsmVault.Crypto.HashToCurve;

/// <summary>expand_message_xmd with SHA-256 (RFC 9380 §5.3.1), including the long-DST rule (§5.3.3).</summary>
public static class ExpandMessageXmd
{
    private const int HashLength = 32;
    private const int BlockLength = 64;
    private const int MaxDstLength = 255;

    private static readonly byte[] OversizeDstPrefix = "H2C-OVERSIZE-DST-"u8.ToArray();

    /// <summary>Returns <paramref name="lengthInBytes"/> uniform bytes derived from <paramref name="message"/> under <paramref name="dst"/>.</summary>
    public static byte[] Expand(ReadOnlySpan<byte> message, ReadOnlySpan<byte> dst, int lengthInBytes)
    {
        var output = new byte[lengthInBytes];
        Expand(message, dst, output);
        return output;
    }

    /// <summary>Fills <paramref name="output"/> (1..8160 bytes) with expand_message_xmd(message, dst, output.Length).</summary>
    public static void Expand(ReadOnlySpan<byte> message, ReadOnlySpan<byte> dst, Span<byte> output)
    {
        int length = output.Length;
        if (length < 1 || length > 255 * HashLength)
        {
            throw new CryptoFormatException("lengthInBytes", $"must be between 1 and {255 * HashLength}, got {length}");
        }

        if (dst.IsEmpty)
        {
            throw new CryptoFormatException(nameof(dst), "must not be empty (RFC 9380 §3.1)");
        }

        // DST' = DST || I2OSP(len(DST), 1), where an over-long DST is first replaced by its hash.
        int effectiveDstLength = dst.Length > MaxDstLength ? HashLength : dst.Length;
        Span<byte> dstSuffix = stackalloc byte[effectiveDstLength + 1];
        if (dst.Length > MaxDstLength)
        {
            using var dstHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            dstHash.AppendData(OversizeDstPrefix);
            dstHash.AppendData(dst);
            dstHash.GetHashAndReset(dstSuffix[..HashLength]);
        }
        else
        {
            dst.CopyTo(dstSuffix);
        }

        dstSuffix[effectiveDstLength] = (byte)effectiveDstLength;
        int ell = (length + HashLength - 1) / HashLength;

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> zeroPad = stackalloc byte[BlockLength];
        zeroPad.Clear();
        hash.AppendData(zeroPad);
        hash.AppendData(message);
        Span<byte> lengthAndZero = [(byte)(length >> 8), (byte)length, 0];
        hash.AppendData(lengthAndZero);
        hash.AppendData(dstSuffix);
        Span<byte> b0 = stackalloc byte[HashLength];
        hash.GetHashAndReset(b0);

        Span<byte> previous = stackalloc byte[HashLength];
        Span<byte> mixed = stackalloc byte[HashLength];
        Span<byte> counter = stackalloc byte[1];
        for (int i = 1; i <= ell; i++)
        {
            // b_1 = H(b_0 || 1 || DST'); b_i = H((b_0 xor b_{i-1}) || i || DST').
            for (int j = 0; j < HashLength; j++)
            {
                mixed[j] = (byte)(b0[j] ^ (i == 1 ? 0 : previous[j]));
            }

            hash.AppendData(mixed);
            counter[0] = (byte)i;
            hash.AppendData(counter);
            hash.AppendData(dstSuffix);
            hash.GetHashAndReset(previous);
            int offset = (i - 1) * HashLength;
            previous[..Math.Min(HashLength, length - offset)].CopyTo(output[offset..]);
        }

        CryptographicOperations.ZeroMemory(b0);
        CryptographicOperations.ZeroMemory(previous);
        CryptographicOperations.ZeroMemory(mixed);
    }
}
