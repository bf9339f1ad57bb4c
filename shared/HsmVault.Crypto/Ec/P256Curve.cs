namespace HsmVault.Crypto.Ec;

/// <summary>
/// P-256 point encoding and regular (secret-independent) scalar multiplication on
/// <see cref="ProjectivePoint"/>. Scalars are canonical <see cref="U256"/> values below n.
/// </summary>
internal static class P256Curve
{
    public const int CompressedLength = 33;

    private const int Windows = 64;

    /// <summary>The generator G.</summary>
    public static readonly ProjectivePoint Generator = ProjectivePoint.FromAffine(
        P256Field.ToMontgomery(MontgomeryModulus.FromBig(System.Numerics.BigInteger.Parse(
            "06B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296", System.Globalization.NumberStyles.HexNumber))),
        P256Field.ToMontgomery(MontgomeryModulus.FromBig(System.Numerics.BigInteger.Parse(
            "04FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5", System.Globalization.NumberStyles.HexNumber))));

    // BaseTable[16 * w + j] = j * 16^w * G, so k*G is one table addition per 4-bit window of k.
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
            P256Field.Negate(y, out y);
        }

        point = ProjectivePoint.FromAffine(x, y);
        failure = null;
        return true;
    }

    /// <summary>x^3 - 3x + b.</summary>
    public static U256 CurveRightHandSide(in U256 x)
    {
        P256Field.Square(x, out var x2);
        P256Field.Multiply(x2, x, out var x3);
        P256Field.Add(x, x, out var twoX);
        P256Field.Add(twoX, x, out var threeX);
        P256Field.Subtract(x3, threeX, out var t);
        P256Field.Add(t, P256Field.B, out var r);
        return r;
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
            P256Field.Multiply(acc, points[i].Z, out acc);
        }

        // acc = Z_0 * ... * Z_{n-1}; walk back, peeling one Z at a time.
        var inverse = P256Field.Invert(acc);
        for (int i = count - 1; i >= 0; i--)
        {
            P256Field.Multiply(inverse, prefix[i], out var zInv);
            P256Field.Multiply(inverse, points[i].Z, out inverse);
            P256Field.Multiply(points[i].X, zInv, out var x);
            P256Field.Multiply(points[i].Y, zInv, out var y);
            var slot = destination.Slice(i * CompressedLength, CompressedLength);
            slot[0] = (byte)(0x02 | P256Field.Parity(y));
            P256Field.Encode(x, slot[1..]);
        }

        return true;
    }

    /// <summary>
    /// k * P with a fixed 4-bit window: 252 doublings and 64 additions of a table entry chosen by
    /// a full constant-time scan, for every k. With complete formulas, zero digits and the
    /// identity need no special case.
    /// </summary>
    public static ProjectivePoint Multiply(in U256 scalar, in ProjectivePoint point)
    {
        Span<ProjectivePoint> table = stackalloc ProjectivePoint[16];
        table[0] = ProjectivePoint.Identity;
        table[1] = point;
        for (int i = 2; i < 16; i += 2)
        {
            ProjectivePoint.Double(table[i / 2], out table[i]);
            ProjectivePoint.Add(table[i], point, out table[i + 1]);
        }

        var acc = Lookup(table, scalar.Nibble(Windows - 1));
        for (int w = Windows - 2; w >= 0; w--)
        {
            ProjectivePoint.Double(acc, out acc);
            ProjectivePoint.Double(acc, out acc);
            ProjectivePoint.Double(acc, out acc);
            ProjectivePoint.Double(acc, out acc);
            var entry = Lookup(table, scalar.Nibble(w));
            ProjectivePoint.Add(acc, entry, out acc);
        }

        table.Clear();
        return acc;
    }

    /// <summary>k * G from the precomputed table: 64 additions, each entry chosen by a constant-time scan.</summary>
    public static ProjectivePoint MultiplyBase(in U256 scalar)
    {
        var table = BaseTable.AsSpan();
        var acc = Lookup(table[..16], scalar.Nibble(0));
        for (int w = 1; w < Windows; w++)
        {
            var entry = Lookup(table.Slice(16 * w, 16), scalar.Nibble(w));
            ProjectivePoint.Add(acc, entry, out acc);
        }

        return acc;
    }

    private static ProjectivePoint Lookup(ReadOnlySpan<ProjectivePoint> table, uint digit)
    {
        var result = default(ProjectivePoint);
        for (uint i = 0; i < 16; i++)
        {
            // All-ones exactly when i == digit, computed without a comparison branch.
            ulong mask = 0 - (ulong)(((i ^ digit) - 1) >> 31);
            ref readonly var e = ref table[(int)i];
            result.X.L0 |= e.X.L0 & mask;
            result.X.L1 |= e.X.L1 & mask;
            result.X.L2 |= e.X.L2 & mask;
            result.X.L3 |= e.X.L3 & mask;
            result.Y.L0 |= e.Y.L0 & mask;
            result.Y.L1 |= e.Y.L1 & mask;
            result.Y.L2 |= e.Y.L2 & mask;
            result.Y.L3 |= e.Y.L3 & mask;
            result.Z.L0 |= e.Z.L0 & mask;
            result.Z.L1 |= e.Z.L1 & mask;
            result.Z.L2 |= e.Z.L2 & mask;
            result.Z.L3 |= e.Z.L3 & mask;
        }

        return result;
    }

    private static ProjectivePoint[] BuildBaseTable()
    {
        var table = new ProjectivePoint[16 * Windows];
        var basePoint = Generator;
        for (int w = 0; w < Windows; w++)
        {
            table[16 * w] = ProjectivePoint.Identity;
            table[(16 * w) + 1] = basePoint;
            for (int j = 2; j < 16; j++)
            {
                ProjectivePoint.Add(table[(16 * w) + j - 1], basePoint, out table[(16 * w) + j]);
            }

            // Normalising to Z = 1 keeps the coordinates small and the table canonical.
            for (int j = 1; j < 16; j++)
            {
                table[(16 * w) + j].ToAffine(out var x, out var y);
                table[(16 * w) + j] = ProjectivePoint.FromAffine(x, y);
            }

            ProjectivePoint.Double(table[(16 * w) + 8], out basePoint);
        }

        return table;
    }
}
