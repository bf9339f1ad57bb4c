using System.Security.Cryptography;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// The P-256 prime-order group as RFC 9497 uses it: 33-byte SEC1 compressed elements, 32-byte
/// big-endian scalars, strict validation, and scalar multiplication by a regular algorithm.
/// </summary>
public static class P256Group
{
    /// <summary>Bytes in a serialised element (Ne, Npk).</summary>
    public const int ElementLength = 33;

    /// <summary>Bytes in a serialised scalar (Ns, Nsk).</summary>
    public const int ScalarLength = 32;

    /// <summary>The generator, SEC1 compressed.</summary>
    public static byte[] Generator => EncodeElement(P256Curve.Generator, "generator");

    /// <summary>Throws <see cref="CryptoFormatException"/> unless <paramref name="element"/> is a valid non-identity compressed point.</summary>
    public static void ValidateElement(ReadOnlySpan<byte> element, string field) => _ = DecodeElement(element, field);

    /// <summary>Throws <see cref="CryptoFormatException"/> unless <paramref name="scalar"/> is 32 bytes, below n and non-zero.</summary>
    public static void ValidateScalar(ReadOnlySpan<byte> scalar, string field) => _ = DecodeScalar(scalar, field);

    /// <summary>scalar * element, with a regular algorithm; returns the compressed product.</summary>
    public static byte[] Multiply(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> element, string scalarField = "scalar", string elementField = "element")
    {
        var k = DecodeScalar(scalar, scalarField);
        var point = DecodeElement(element, elementField);
        return EncodeElement(P256Curve.Multiply(k, point), elementField);
    }

    /// <summary>scalar * G, with a regular algorithm; returns the compressed product.</summary>
    public static byte[] MultiplyGenerator(ReadOnlySpan<byte> scalar, string scalarField = "scalar")
    {
        var k = DecodeScalar(scalar, scalarField);
        return EncodeElement(P256Curve.MultiplyBase(k), scalarField);
    }

    /// <summary>Bytes in a SEC1 uncompressed point, the encoding HPKE's DHKEM(P-256) uses (Npk, Nenc).</summary>
    public const int UncompressedLength = P256Curve.UncompressedLength;

    /// <summary>Throws <see cref="CryptoFormatException"/> unless <paramref name="point"/> is a valid SEC1 uncompressed P-256 point.</summary>
    public static void ValidateUncompressed(ReadOnlySpan<byte> point, string field) => _ = DecodeUncompressed(point, field);

    /// <summary>scalar * G as a SEC1 uncompressed point (65 bytes), with a regular algorithm.</summary>
    public static byte[] PublicKeyUncompressed(ReadOnlySpan<byte> scalar, string scalarField = "scalar")
    {
        var k = DecodeScalar(scalar, scalarField);
        var encoded = new byte[UncompressedLength];
        if (!P256Curve.TryEncodeUncompressed(P256Curve.MultiplyBase(k), encoded))
        {
            throw new CryptoFormatException(scalarField, "result is the identity element");
        }

        return encoded;
    }

    /// <summary>
    /// The x-coordinate (32 bytes) of scalar * peer for a SEC1 uncompressed peer point: the
    /// Diffie-Hellman output DHKEM(P-256) uses. Regular algorithm; the scalar is secret.
    /// </summary>
    public static byte[] DiffieHellmanX(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> uncompressedPeer, string scalarField = "scalar", string peerField = "peer")
    {
        var k = DecodeScalar(scalar, scalarField);
        var peer = DecodeUncompressed(uncompressedPeer, peerField);
        Span<byte> product = stackalloc byte[UncompressedLength];
        if (!P256Curve.TryEncodeUncompressed(P256Curve.Multiply(k, peer), product))
        {
            throw new CryptoFormatException(peerField, "Diffie-Hellman result is the identity element");
        }

        byte[] x = product.Slice(1, 32).ToArray();
        product.Clear();
        return x;
    }

    internal static ProjectivePoint DecodeUncompressed(ReadOnlySpan<byte> point, string field)
    {
        if (!P256Curve.TryDecodeUncompressed(point, out var decoded, out var failure))
        {
            throw new CryptoFormatException(field, failure!);
        }

        return decoded;
    }

    /// <summary>A uniformly random non-zero scalar, by rejection sampling 32-byte draws.</summary>
    public static byte[] RandomScalar(IRandomSource random)
    {
        var scalar = new byte[ScalarLength];
        RandomScalar(random, scalar);
        return scalar;
    }

    internal static U256 RandomScalar(IRandomSource random, Span<byte> scratch32)
    {
        ArgumentNullException.ThrowIfNull(random);
        for (int attempt = 0; attempt < 64; attempt++)
        {
            random.Fill(scratch32);
            var value = U256.FromBigEndian(scratch32);

            // Rejection depends only on whether the draw is usable, never on the kept value.
            if (U256.LessThan(value, P256Scalar.Order) && value.IsZeroMask() == 0)
            {
                return value;
            }
        }

        // A working RNG rejects with probability below 2^-32 per draw; 64 rejections in a row mean it is broken.
        throw new CryptographicException("random source produced 64 unusable scalars in a row; it is not random");
    }

    internal static ProjectivePoint DecodeElement(ReadOnlySpan<byte> element, string field)
    {
        if (!P256Curve.TryDecode(element, out var point, out var failure))
        {
            throw new CryptoFormatException(field, failure!);
        }

        return point;
    }

    internal static U256 DecodeScalar(ReadOnlySpan<byte> scalar, string field)
    {
        if (scalar.Length != ScalarLength)
        {
            throw new CryptoFormatException(field, $"must be {ScalarLength} bytes, got {scalar.Length}");
        }

        var value = U256.FromBigEndian(scalar);
        if (!U256.LessThan(value, P256Scalar.Order))
        {
            throw new CryptoFormatException(field, "is not below the group order (non-canonical scalar)");
        }

        if (value.IsZeroMask() != 0)
        {
            throw new CryptoFormatException(field, "is zero");
        }

        return value;
    }

    internal static byte[] EncodeElement(in ProjectivePoint point, string field)
    {
        var encoded = new byte[ElementLength];
        if (!P256Curve.TryEncode(point, encoded))
        {
            // Only reachable from a valid element times a valid scalar if the arithmetic is broken,
            // or from hash-to-curve with negligible probability; never return a silent wrong answer.
            throw new CryptoFormatException(field, "result is the identity element");
        }

        return encoded;
    }

    internal static void EncodeScalar(in U256 scalar, Span<byte> destination32) => scalar.WriteBigEndian(destination32);
}
