using HsmVault.Simulator.Pkcs11;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Math.EC;

namespace HsmVault.Simulator;

/// <summary>NIST P-256 parameters and the point encodings the HSM services exchange.</summary>
internal static class P256
{
    internal const int CompressedLength = 33;

    internal static readonly X9ECParameters Parameters = CustomNamedCurves.GetByName("P-256");

    internal static ECCurve Curve => Parameters.Curve;

    internal static ECPoint G => Parameters.G;

    internal static BigInteger N => Parameters.N;

    /// <summary>DER encoding of the prime256v1 object identifier, the CKA_EC_PARAMS of every P-256 key.</summary>
    internal static ReadOnlySpan<byte> NamedCurveParameters => [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

    /// <summary>Decodes a SEC1 compressed point, rejecting anything that is not a point of the P-256 group.</summary>
    internal static ECPoint DecodeCompressed(ReadOnlySpan<byte> encoded, string parameterName) =>
        encoded.Length != CompressedLength || (encoded[0] != 0x02 && encoded[0] != 0x03)
            ? throw new ArgumentException(
                $"Must be a SEC1 compressed P-256 point: {CompressedLength} bytes starting with 0x02 or 0x03 (got {encoded.Length} bytes).", parameterName)
            : DecodeValid(encoded, parameterName);

    /// <summary>Decodes a SEC1 uncompressed point (65 bytes), rejecting anything that is not a point of the P-256 group.</summary>
    internal static ECPoint DecodeUncompressed(ReadOnlySpan<byte> encoded, string parameterName) =>
        encoded.Length != 65 || encoded[0] != 0x04
            ? throw new ArgumentException($"Must be a SEC1 uncompressed P-256 point: 65 bytes starting with 0x04 (got {encoded.Length} bytes).", parameterName)
            : DecodeValid(encoded, parameterName);

    // The encoding's shape is checked by the caller; this rejects what is not a group point.
    private static ECPoint DecodeValid(ReadOnlySpan<byte> encoded, string parameterName)
    {
        ECPoint point;
        try
        {
            point = Curve.DecodePoint(encoded.ToArray());
        }
        catch (Exception ex) when (ex is ArgumentException or ArithmeticException or InvalidOperationException)
        {
            throw new ArgumentException("Is not a point on the P-256 curve.", parameterName, ex);
        }

        if (point.IsInfinity || !point.IsValid())
        {
            throw new ArgumentException("Is not a valid non-identity P-256 point.", parameterName);
        }

        return point.Normalize();
    }

    /// <summary>Decodes CKA_EC_POINT: a DER OCTET STRING around an uncompressed point, or (some vendors) the raw point.</summary>
    internal static ECPoint DecodeEcPointAttribute(byte[] value)
    {
        ReadOnlySpan<byte> raw = value;
        if (raw.Length == 67 && raw[0] == 0x04 && raw[1] == 0x41)
        {
            raw = raw[2..];
        }

        if (raw.Length != 65 || raw[0] != 0x04)
        {
            throw new HsmConfigurationException($"CKA_EC_POINT is not an uncompressed P-256 point ({value.Length} bytes).");
        }

        ECPoint point = Curve.DecodePoint(raw.ToArray());
        if (point.IsInfinity || !point.IsValid())
        {
            throw new HsmConfigurationException("CKA_EC_POINT is not a valid P-256 point.");
        }

        return point.Normalize();
    }

    /// <summary>
    /// scalar * point by a Montgomery ladder over a fixed 257-bit scalar (k + n or k + 2n), so the
    /// sequence of group operations does not depend on the secret scalar.
    /// </summary>
    internal static ECPoint MultiplyRegular(ECPoint point, BigInteger scalar)
    {
        BigInteger k = scalar.Mod(N).Add(N);
        if (k.BitLength <= N.BitLength)
        {
            k = k.Add(N);
        }

        ECPoint r0 = point;
        ECPoint r1 = point.Twice();
        for (int i = N.BitLength - 1; i >= 0; i--)
        {
            if (k.TestBit(i))
            {
                r0 = r0.Add(r1);
                r1 = r1.Twice();
            }
            else
            {
                r1 = r0.Add(r1);
                r0 = r0.Twice();
            }
        }

        return r0.Normalize();
    }

    internal static byte[] Compress(ECPoint point) => point.Normalize().GetEncoded(true);

    internal static byte[] Uncompressed(ECPoint point) => point.Normalize().GetEncoded(false);

    /// <summary>Maps 32 uniformly random bytes to a scalar in [1, n-1].</summary>
    internal static BigInteger ScalarFrom(ReadOnlySpan<byte> bytes) =>
        new BigInteger(1, bytes.ToArray()).Mod(N.Subtract(BigInteger.One)).Add(BigInteger.One);
}
