namespace HsmVault.Crypto.Ec;

/// <summary>
/// Arithmetic modulo the P-256 group order n. Scalars are passed around canonical (not in
/// Montgomery form); Montgomery form is used only inside the operations.
/// </summary>
internal static class P256Scalar
{
    private static readonly MontgomeryModulus Params =
        new("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

    public static U256 Order => Params.Modulus;

    public static System.Numerics.BigInteger OrderValue => Params.Value;

    /// <summary>True when the 32 big-endian bytes encode a value below n (variable-time; for public checks and rejection sampling).</summary>
    public static bool IsCanonical(ReadOnlySpan<byte> bytes32) => U256.LessThan(U256.FromBigEndian(bytes32), Params.Modulus);

    /// <summary>Reduces a 48-byte big-endian integer modulo n in constant time (RFC 9380 hash_to_field, L = 48).</summary>
    public static U256 ReduceWide(ReadOnlySpan<byte> bytes48)
    {
        Span<byte> buffer = stackalloc byte[32];
        buffer.Clear();
        bytes48[..16].CopyTo(buffer[16..]);
        var hi = U256.FromBigEndian(buffer);
        var lo = Montgomery256.ReduceOnce(U256.FromBigEndian(bytes48[16..]), Params.Modulus);

        // hi * R^2 * R^-1 = hi * 2^256 mod n, already canonical (Montgomery output is reduced).
        Montgomery256.Multiply(hi, Params.RSquared, Params.Modulus, Params.MPrime, out var hiShifted);
        Montgomery256.Add(hiShifted, lo, Params.Modulus, out var r);
        buffer.Clear();
        return r;
    }

    /// <summary>a^-1 mod n by Fermat's little theorem (constant-time in a); zero maps to zero.</summary>
    public static U256 Invert(in U256 a)
    {
        Montgomery256.Multiply(a, Params.RSquared, Params.Modulus, Params.MPrime, out var aMont);
        Montgomery256.Power(aMont, Params.MinusTwo, Params.One, Params.Modulus, Params.MPrime, out var invMont);
        Montgomery256.Multiply(invMont, new U256(1, 0, 0, 0), Params.Modulus, Params.MPrime, out var inv);
        return inv;
    }

    /// <summary>a * b mod n (canonical in and out).</summary>
    public static U256 Multiply(in U256 a, in U256 b)
    {
        Montgomery256.Multiply(a, Params.RSquared, Params.Modulus, Params.MPrime, out var aMont);
        Montgomery256.Multiply(aMont, b, Params.Modulus, Params.MPrime, out var r);
        return r;
    }

    /// <summary>n - a for a in [1, n).</summary>
    public static U256 Negate(in U256 a)
    {
        Montgomery256.Subtract(default, a, Params.Modulus, out var r);
        return r;
    }
}
