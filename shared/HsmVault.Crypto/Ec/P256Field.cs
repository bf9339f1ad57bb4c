using System.Runtime.CompilerServices;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// Arithmetic in GF(p), p = 2^256 - 2^224 + 2^192 + 2^96 - 1, on <see cref="U256"/> values in
/// Montgomery form. All operations are constant-time in the operand values.
/// </summary>
internal static class P256Field
{
    private static readonly MontgomeryModulus Params =
        new("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF");

    private static readonly U256 P = Params.Modulus;
    private static readonly U256 RSquared = Params.RSquared;
    private static readonly U256 SqrtExponent = MontgomeryModulus.FromBig((Params.Value + 1) / 4);

    public static U256 Modulus => P;

    public static U256 One => Params.One;

    public static U256 Zero => default;

    /// <summary>The curve coefficient b in Montgomery form.</summary>
    public static readonly U256 B =
        ToMontgomery(MontgomeryModulus.FromBig(System.Numerics.BigInteger.Parse(
            "05AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
            System.Globalization.NumberStyles.HexNumber)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Multiply(in U256 a, in U256 b) => P256FieldMultiplier.Multiply(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Square(in U256 a) => P256FieldMultiplier.Square(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Add(in U256 a, in U256 b) => P256FieldMultiplier.Add(a, b);

    /// <summary>2a, cheaper than <c>Add(a, a)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Twice(in U256 a) => P256FieldMultiplier.Twice(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Subtract(in U256 a, in U256 b) => P256FieldMultiplier.Subtract(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Negate(in U256 a) => P256FieldMultiplier.Subtract(default, a);

    /// <summary>Converts a canonical integer below p into Montgomery form.</summary>
    public static U256 ToMontgomery(in U256 canonical) => Multiply(canonical, RSquared);

    public static U256 FromMontgomery(in U256 a) => Multiply(a, new U256(1, 0, 0, 0));

    /// <summary>a^(p-2): the inverse, or zero for zero (RFC 9380 inv0).</summary>
    public static U256 Invert(in U256 a)
    {
        return Power(a, Params.MinusTwo);
    }

    /// <summary>
    /// a^((p+1)/4), which squares to a exactly when a is a square (p = 3 mod 4). Returns the
    /// candidate and an all-ones mask when it is a true root.
    /// </summary>
    public static U256 SquareRoot(in U256 a, out ulong isSquareMask)
    {
        var root = Power(a, SqrtExponent);
        var check = Square(root);
        isSquareMask = U256.EqualMask(check, a);
        return root;
    }

    /// <summary>a^e for a public exponent, fixed 4-bit window (zero windows skipped: e is public).</summary>
    private static U256 Power(in U256 a, in U256 exponent)
    {
        Span<U256> table = stackalloc U256[16];
        table[0] = One;
        table[1] = a;
        for (int i = 2; i < 16; i++)
        {
            table[i] = Multiply(table[i - 1], a);
        }

        U256 acc = One;
        for (int w = 63; w >= 0; w--)
        {
            acc = Square(acc);
            acc = Square(acc);
            acc = Square(acc);
            acc = Square(acc);
            uint digit = exponent.Nibble(w);
            if (digit != 0)
            {
                acc = Multiply(acc, table[(int)digit]);
            }
        }

        return acc;
    }

    /// <summary>The parity (least significant bit of the canonical value), as 0 or 1.</summary>
    public static ulong Parity(in U256 a) => FromMontgomery(a).L0 & 1;

    /// <summary>Parses 32 big-endian bytes; returns false when the value is not below p.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes32, out U256 element)
    {
        var canonical = U256.FromBigEndian(bytes32);
        if (!U256.LessThan(canonical, P))
        {
            element = default;
            return false;
        }

        element = ToMontgomery(canonical);
        return true;
    }

    public static void Encode(in U256 a, Span<byte> destination32) => FromMontgomery(a).WriteBigEndian(destination32);

    /// <summary>Reduces a 48-byte big-endian integer modulo p (RFC 9380 hash_to_field with L = 48).</summary>
    public static U256 ReduceWide(ReadOnlySpan<byte> bytes48)
    {
        // value = hi * 2^256 + lo with hi < 2^128. Montgomery-multiplying hi by R^2 gives
        // hi * 2^256 mod p; a second multiplication by R^2 puts that into Montgomery form.
        Span<byte> buffer = stackalloc byte[32];
        buffer.Clear();
        bytes48[..16].CopyTo(buffer[16..]);
        var hi = U256.FromBigEndian(buffer);
        var lo = Montgomery256.ReduceOnce(U256.FromBigEndian(bytes48[16..]), P);
        var hiShifted = Multiply(hi, RSquared);   // hi * 2^256 (canonical)
        var hiMont = Multiply(hiShifted, RSquared);
        var loMont = ToMontgomery(lo);
        var r = Add(hiMont, loMont);
        return r;
    }
}
