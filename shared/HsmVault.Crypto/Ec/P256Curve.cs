using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// P-256 point encoding and regular (secret-independent) scalar multiplication on
/// <see cref="ProjectivePoint"/>. Scalars are canonical <see cref="U256"/> values below n.
/// </summary>
internal static class P256Curve
{
    public const int CompressedLength = 33;

    /// <summary>The generator G.</summary>
    public static readonly ProjectivePoint Generator = ProjectivePoint.FromAffine(
        P256Field.ToMontgomery(MontgomeryModulus.FromBig(System.Numerics.BigInteger.Parse(
            "06B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296", System.Globalization.NumberStyles.HexNumber))),
        P256Field.ToMontgomery(MontgomeryModulus.FromBig(System.Numerics.BigInteger.Parse(
            "04FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5", System.Globalization.NumberStyles.HexNumber))));

    // BaseTable[16 * i + j] = (j + 1) * 32^i * G, so k*G is one table addition per signed 5-bit digit of k.
    private static readonly ProjectivePoint[] BaseTable = BuildBaseTable();

    /// <summary>Decodes a SEC1 compressed point; returns a reason on failure (public input, so branches are fine).</summary>
    public static bool TryDecode(ReadOnlySpan<byte> encoded, out ProjectivePoint point, out string? failure)
    {
        point = default;
        if (encoded.Length != CompressedLength)
        {
            failure = encoded.Length == 1 && encoded[0] == 0
                ? "is the identity element"
                : $"must be {CompressedLength} bytes (SEC1 compressed), got {encoded.Length}";
            return false;
        }

        byte prefix = encoded[0];
        if (prefix != 0x02 && prefix != 0x03)
        {
            failure = prefix == 0x00 ? "is the identity element" : $"has invalid SEC1 prefix 0x{prefix:x2} (expected 0x02 or 0x03)";
            return false;
        }

        if (!P256Field.TryDecode(encoded[1..], out var x))
        {
            failure = "x coordinate is not below the field prime";
            return false;
        }

        var rhs = CurveRightHandSide(x);
        var y = P256Field.SquareRoot(rhs, out ulong isSquare);
        if (isSquare == 0)
        {
            failure = "is not on the P-256 curve";
            return false;
        }

        if (P256Field.Parity(y) != (ulong)(prefix & 1))
        {
            y = P256Field.Negate(y);
        }

        point = ProjectivePoint.FromAffine(x, y);
        failure = null;
        return true;
    }

    /// <summary>Bytes of a SEC1 uncompressed point (0x04 || x || y).</summary>
    public const int UncompressedLength = 65;

    /// <summary>Decodes a SEC1 uncompressed point and checks it lies on the curve (public input).</summary>
    public static bool TryDecodeUncompressed(ReadOnlySpan<byte> encoded, out ProjectivePoint point, out string? failure)
    {
        point = default;
        if (encoded.Length != UncompressedLength)
        {
            failure = $"must be {UncompressedLength} bytes (SEC1 uncompressed), got {encoded.Length}";
            return false;
        }

        if (encoded[0] != 0x04)
        {
            failure = $"has invalid SEC1 prefix 0x{encoded[0]:x2} (expected 0x04, uncompressed)";
            return false;
        }

        if (!P256Field.TryDecode(encoded.Slice(1, 32), out var x) || !P256Field.TryDecode(encoded.Slice(33, 32), out var y))
        {
            failure = "a coordinate is not below the field prime";
            return false;
        }

        Span<byte> left = stackalloc byte[32];
        Span<byte> right = stackalloc byte[32];
        P256Field.Encode(P256Field.Square(y), left);
        P256Field.Encode(CurveRightHandSide(x), right);
        if (!left.SequenceEqual(right))
        {
            failure = "is not on the P-256 curve";
            return false;
        }

        point = ProjectivePoint.FromAffine(x, y);
        failure = null;
        return true;
    }

    /// <summary>SEC1 uncompressed encoding. Returns false for the identity.</summary>
    public static bool TryEncodeUncompressed(in ProjectivePoint point, Span<byte> destination65)
    {
        if (point.IsIdentityMask() != 0)
        {
            return false;
        }

        point.ToAffine(out var x, out var y);
        destination65[0] = 0x04;
        P256Field.Encode(x, destination65.Slice(1, 32));
        P256Field.Encode(y, destination65.Slice(33, 32));
        return true;
    }

    /// <summary>x^3 - 3x + b.</summary>
    public static U256 CurveRightHandSide(in U256 x)
    {
        var x3 = P256Field.Multiply(P256Field.Square(x), x);
        var threeX = P256Field.Add(P256Field.Twice(x), x);
        return P256Field.Add(P256Field.Subtract(x3, threeX), P256Field.B);
    }

    /// <summary>SEC1 compressed encoding. Returns false for the identity, which has no 33-byte encoding.</summary>
    public static bool TryEncode(in ProjectivePoint point, Span<byte> destination33)
    {
        if (point.IsIdentityMask() != 0)
        {
            return false;
        }

        point.ToAffine(out var x, out var y);
        destination33[0] = (byte)(0x02 | P256Field.Parity(y));
        P256Field.Encode(x, destination33[1..]);
        return true;
    }

    /// <summary>
    /// Encodes several points with one field inversion (Montgomery's trick). Returns false if any
    /// point is the identity, which has no 33-byte encoding.
    /// </summary>
    public static bool TryEncodeBatch(ReadOnlySpan<ProjectivePoint> points, Span<byte> destination)
    {
        int count = points.Length;
        Span<U256> prefix = stackalloc U256[count];
        var acc = P256Field.One;
        for (int i = 0; i < count; i++)
        {
            if (points[i].IsIdentityMask() != 0)
            {
                return false;
            }

            prefix[i] = acc;
            acc = P256Field.Multiply(acc, points[i].Z);
        }

        // acc = Z_0 * ... * Z_{n-1}; walk back, peeling one Z at a time.
        var inverse = P256Field.Invert(acc);
        for (int i = count - 1; i >= 0; i--)
        {
            var zInv = P256Field.Multiply(inverse, prefix[i]);
            inverse = P256Field.Multiply(inverse, points[i].Z);
            var x = P256Field.Multiply(points[i].X, zInv);
            var y = P256Field.Multiply(points[i].Y, zInv);
            var slot = destination.Slice(i * CompressedLength, CompressedLength);
            slot[0] = (byte)(0x02 | P256Field.Parity(y));
            P256Field.Encode(x, slot[1..]);
        }

        return true;
    }

    /// <summary>
    /// k * P with signed 5-bit windows (<see cref="ScalarRecoding"/>): a table 1*P..16*P, then for
    /// each of the 52 digits from the top five doublings and one addition of the table entry
    /// +-|d| * P. Every k costs the same 255 doublings and 51 additions (the first digit is a
    /// plain lookup); each entry is read with a full constant-time scan and negated by a mask.
    /// A zero digit adds the identity - a real addition, not a skip: the addition is complete,
    /// and the doubling handles an identity accumulator (small k) by a mask.
    /// </summary>
    public static ProjectivePoint Multiply(in U256 scalar, in ProjectivePoint point)
    {
        // table[j] = (j + 1) * P: even multiples by doubling, odd ones by adding P.
        Span<ProjectivePoint> table = stackalloc ProjectivePoint[16];
        table[0] = point;
        for (int j = 1; j < 16; j += 2)
        {
            table[j] = ProjectivePoint.Double(table[j / 2]);
            if (j + 1 < 16)
            {
                table[j + 1] = ProjectivePoint.Add(table[j], point);
            }
        }

        var acc = LookupSigned(table, ScalarRecoding.Digit(scalar, ScalarRecoding.DigitCount - 1));
        for (int i = ScalarRecoding.DigitCount - 2; i >= 0; i--)
        {
            for (int d = 0; d < ScalarRecoding.WindowBits; d++)
            {
                acc = ProjectivePoint.Double(acc);
            }

            acc = ProjectivePoint.Add(acc, LookupSigned(table, ScalarRecoding.Digit(scalar, i)));
        }

        table.Clear();
        return acc;
    }

    /// <summary>
    /// k * G from the precomputed table: one lookup per signed 5-bit digit of k (the same recoding
    /// as <see cref="Multiply"/>) and 51 complete additions, no doublings. Each entry is chosen by
    /// a full constant-time scan and negated by a mask.
    /// </summary>
    public static ProjectivePoint MultiplyBase(in U256 scalar)
    {
        var table = BaseTable.AsSpan();
        var acc = LookupSigned(table[..16], ScalarRecoding.Digit(scalar, 0));
        for (int i = 1; i < ScalarRecoding.DigitCount; i++)
        {
            var entry = LookupSigned(table.Slice(16 * i, 16), ScalarRecoding.Digit(scalar, i));
            acc = ProjectivePoint.Add(acc, entry);
        }

        return acc;
    }

    /// <summary>
    /// digit * P from table[j] = (j + 1) * P, for a digit in [-16, 16]: all 16 entries are read
    /// and combined by masks, 0 yields the identity and a negative digit negates Y by a mask.
    /// </summary>
    private static ProjectivePoint LookupSigned(ReadOnlySpan<ProjectivePoint> table, int digit)
    {
        uint magnitude = ScalarRecoding.Magnitude(digit, out ulong negative);

        // A point is 12 consecutive limbs (X, Y, Z): three 256-bit vectors. Vector AND/OR take
        // the same time whatever the data, and a full scan costs 16 x 6 vector operations.
        ReadOnlySpan<ulong> limbs = MemoryMarshal.Cast<ProjectivePoint, ulong>(table);

        // Start from the identity (0:1:0) when the digit is zero, from all-zero otherwise.
        var isZero = Vector256.Create(0 - (ulong)((magnitude - 1) >> 31));
        var one = P256Field.One;
        var x = Vector256<ulong>.Zero;
        var y = Vector256.Create(one.L0, one.L1, one.L2, one.L3) & isZero;
        var z = Vector256<ulong>.Zero;
        for (int i = 0; i < 16; i++)
        {
            // All-ones exactly when i + 1 == magnitude, computed without a comparison branch.
            var mask = Vector256.Create(0 - (ulong)(((((uint)i + 1) ^ magnitude) - 1) >> 31));
            var entry = limbs.Slice(12 * i, 12);
            x |= Vector256.Create(entry[..4]) & mask;
            y |= Vector256.Create(entry[4..8]) & mask;
            z |= Vector256.Create(entry[8..]) & mask;
        }

        var result = new ProjectivePoint
        {
            X = new U256(x[0], x[1], x[2], x[3]),
            Y = new U256(y[0], y[1], y[2], y[3]),
            Z = new U256(z[0], z[1], z[2], z[3]),
        };

        // -(X:Y:Z) = (X:-Y:Z); for the identity this gives (0:-1:0), the same point.
        return ProjectivePoint.ConditionalNegate(negative, result);
    }

    private static ProjectivePoint[] BuildBaseTable()
    {
        var table = new ProjectivePoint[16 * ScalarRecoding.DigitCount];
        var basePoint = Generator;
        for (int i = 0; i < ScalarRecoding.DigitCount; i++)
        {
            var window = table.AsSpan(16 * i, 16);
            window[0] = basePoint;
            for (int j = 1; j < 16; j++)
            {
                window[j] = ProjectivePoint.Add(window[j - 1], basePoint);
            }

            // Normalising to Z = 1 keeps the coordinates small and the table canonical.
            for (int j = 0; j < 16; j++)
            {
                window[j].ToAffine(out var x, out var y);
                window[j] = ProjectivePoint.FromAffine(x, y);
            }

            basePoint = ProjectivePoint.Double(window[15]);
        }

        return table;
    }
}
