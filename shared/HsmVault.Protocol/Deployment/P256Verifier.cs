using System.Numerics;
using System.Security.Cryptography;

namespace HsmVault.Protocol.Deployment;

/// <summary>
/// ECDSA P-256 verification of an HSM identity key's signatures, from its SEC1 compressed form (the form the
/// fleet configuration and the manifest carry): the point is decompressed here, then verified by the platform.
/// </summary>
public static class P256Verifier
{
    private static readonly BigInteger P = BigInteger.Parse("0ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", System.Globalization.NumberStyles.HexNumber);
    private static readonly BigInteger B = BigInteger.Parse("05ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", System.Globalization.NumberStyles.HexNumber);

    /// <summary>Whether <paramref name="key"/> is a SEC1 compressed point of P-256 (33 bytes, 02 or 03, x on the curve).</summary>
    public static bool IsCompressedPoint(ReadOnlySpan<byte> key) => Decompress(key) is not null;

    /// <summary>
    /// Whether <paramref name="signature"/> (r ‖ s, 64 bytes) is a valid ECDSA P-256 signature over SHA-256 of
    /// <paramref name="message"/> by the compressed public key <paramref name="publicKey"/>.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != 64 || Decompress(publicKey) is not { } q)
        {
            return false;
        }

        try
        {
            using ECDsa ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = q });
            return ecdsa.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static ECPoint? Decompress(ReadOnlySpan<byte> key)
    {
        if (key.Length != 33 || (key[0] != 0x02 && key[0] != 0x03))
        {
            return null;
        }

        var x = new BigInteger(key[1..], isUnsigned: true, isBigEndian: true);
        if (x >= P)
        {
            return null;
        }

        // y² = x³ - 3x + b; p ≡ 3 (mod 4), so a square root is (y²)^((p+1)/4).
        BigInteger right = Mod((BigInteger.ModPow(x, 3, P) - (3 * x) + B), P);
        BigInteger y = BigInteger.ModPow(right, (P + 1) / 4, P);
        if (BigInteger.ModPow(y, 2, P) != right)
        {
            return null;
        }

        if ((y.IsEven ? 0x02 : 0x03) != key[0])
        {
            y = P - y;
        }

        return new ECPoint { X = key[1..].ToArray(), Y = Fixed32(y) };
    }

    private static BigInteger Mod(BigInteger value, BigInteger modulus)
    {
        BigInteger r = value % modulus;
        return r.Sign < 0 ? r + modulus : r;
    }

    private static byte[] Fixed32(BigInteger value)
    {
        byte[] raw = value.ToByteArray(isUnsigned: true, isBigEndian: true);
        byte[] result = new byte[32];
        raw.CopyTo(result, 32 - raw.Length);
        return result;
    }
}
