using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.HashToCurve;

/// <summary>
/// The P256_XMD:SHA-256_SSWU_RO_ suite of RFC 9380: hash_to_field with expand_message_xmd, the
/// simplified SWU map with Z = -10, and hash_to_curve. The map runs without branches on the
/// input, because the input is typically a password.
/// </summary>
public static class P256HashToCurve
{
    /// <summary>The suite identifier, used in domain separation tags.</summary>
    public const string SuiteId = "P256_XMD:SHA-256_SSWU_RO_";

    private const int FieldElementExpansion = 48;

    private static readonly U256 A = ToField(-3);
    private static readonly U256 Z = ToField(-10);
    private static readonly U256 MinusBOverA = MulInv(P256Field.B, ToField(3));
    private static readonly U256 BOverZA = MulInv(P256Field.B, ToField(30));

    /// <summary>hash_to_curve(msg) under <paramref name="dst"/>; returns the SEC1 compressed point (33 bytes).</summary>
    public static byte[] HashToCurve(ReadOnlySpan<byte> message, ReadOnlySpan<byte> dst)
    {
        var point = HashToPoint(message, dst);
        var encoded = new byte[P256Curve.CompressedLength];
        if (!P256Curve.TryEncode(point, encoded))
        {
            // Probability about 2^-256; RFC 9497 treats it as an invalid input.
            throw new CryptoFormatException(nameof(message), "hashes to the identity element");
        }

        return encoded;
    }

    /// <summary>hash_to_field(msg, count) for the P-256 base field: each element as 32 big-endian bytes.</summary>
    public static byte[][] HashToField(ReadOnlySpan<byte> message, ReadOnlySpan<byte> dst, int count)
    {
        var elements = HashToFieldElements(message, dst, count);
        var result = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            result[i] = new byte[32];
            P256Field.Encode(elements[i], result[i]);
        }

        return result;
    }

    /// <summary>map_to_curve_simple_swu(u) for a field element given as 32 big-endian bytes; returns affine (x, y), 32 bytes each.</summary>
    public static (byte[] X, byte[] Y) MapToCurve(ReadOnlySpan<byte> fieldElement)
    {
        if (fieldElement.Length != 32 || !P256Field.TryDecode(fieldElement, out var u))
        {
            throw new CryptoFormatException(nameof(fieldElement), "must be 32 bytes encoding a value below p");
        }

        var point = MapToCurve(u);
        point.ToAffine(out var x, out var y);
        var xs = new byte[32];
        var ys = new byte[32];
        P256Field.Encode(x, xs);
        P256Field.Encode(y, ys);
        return (xs, ys);
    }

    internal static ProjectivePoint HashToPoint(ReadOnlySpan<byte> message, ReadOnlySpan<byte> dst)
    {
        var u = HashToFieldElements(message, dst, 2);
        var q0 = MapToCurve(u[0]);
        var q1 = MapToCurve(u[1]);

        // P-256 has cofactor 1, so clear_cofactor is the identity map.
        return ProjectivePoint.Add(q0, q1);
    }

    internal static U256[] HashToFieldElements(ReadOnlySpan<byte> message, ReadOnlySpan<byte> dst, int count)
    {
        Span<byte> uniform = stackalloc byte[count * FieldElementExpansion];
        ExpandMessageXmd.Expand(message, dst, uniform);
        var elements = new U256[count];
        for (int i = 0; i < count; i++)
        {
            elements[i] = P256Field.ReduceWide(uniform.Slice(i * FieldElementExpansion, FieldElementExpansion));
        }

        uniform.Clear();
        return elements;
    }

    /// <summary>Simplified SWU (RFC 9380 §6.6.2), both branches always computed and selected by mask.</summary>
    internal static ProjectivePoint MapToCurve(in U256 u)
    {
        var u2 = P256Field.Square(u);
        var zu2 = P256Field.Multiply(Z, u2);
        var z2u4 = P256Field.Square(zu2);
        var denominator = P256Field.Add(z2u4, zu2);
        var tv1 = P256Field.Invert(denominator);
        ulong tv1IsZero = tv1.IsZeroMask();

        var onePlusTv1 = P256Field.Add(P256Field.One, tv1);
        var x1 = P256Field.Multiply(MinusBOverA, onePlusTv1);
        x1 = U256.Select(tv1IsZero, BOverZA, x1);
        var gx1 = RightHandSide(x1);

        var x2 = P256Field.Multiply(zu2, x1);
        var gx2 = RightHandSide(x2);

        var y1 = P256Field.SquareRoot(gx1, out ulong gx1IsSquare);
        var y2 = P256Field.SquareRoot(gx2, out _);
        var x = U256.Select(gx1IsSquare, x1, x2);
        var y = U256.Select(gx1IsSquare, y1, y2);

        ulong signsDiffer = P256Field.Parity(u) ^ P256Field.Parity(y);
        var negY = P256Field.Negate(y);
        y = U256.Select(0 - signsDiffer, negY, y);
        return ProjectivePoint.FromAffine(x, y);
    }

    private static U256 RightHandSide(in U256 x)
    {
        var x2 = P256Field.Square(x);
        var x2PlusA = P256Field.Add(x2, A);
        var t = P256Field.Multiply(x2PlusA, x);
        return P256Field.Add(t, P256Field.B);
    }

    private static U256 ToField(int value)
    {
        var magnitude = P256Field.ToMontgomery(new U256((ulong)Math.Abs(value), 0, 0, 0));
        if (value >= 0)
        {
            return magnitude;
        }

        return P256Field.Negate(magnitude);
    }

    private static U256 MulInv(in U256 a, in U256 b)
    {
        return P256Field.Multiply(a, P256Field.Invert(b));
    }
}
