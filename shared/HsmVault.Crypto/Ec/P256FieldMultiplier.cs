using System.Runtime.CompilerServices;
using static HsmVault.Crypto.Ec.LimbArithmetic;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// Montgomery arithmetic (R = 2^256) specialised to the P-256 prime. Everything is straight-line
/// code on ulong locals, values in and values out, so the JIT keeps limbs in registers; the
/// generic <see cref="Montgomery256"/> is kept for the scalar field.
/// </summary>
/// <remarks>
/// Constant time: there is no branch and no memory index that depends on a value. Carries of
/// two-operand additions are unsigned comparisons turned into 0/1 values (<see cref="LimbArithmetic.Below"/>),
/// which the JIT emits as <c>cmp</c> + <c>setb</c>, not as jumps; carry and borrow chains use
/// the sign-bit formulas of Hacker's Delight 2-13, which measured slightly cheaper there.
/// Final reductions select by masks.
/// </remarks>
internal static class P256FieldMultiplier
{
    // p = 2^256 - 2^224 + 2^192 + 2^96 - 1 as little-endian limbs (limb 2 is zero).
    private const ulong P0 = 0xFFFFFFFFFFFFFFFF;
    private const ulong P1 = 0x00000000FFFFFFFF;
    private const ulong P3 = 0xFFFFFFFF00000001;

    /// <summary>a * b * 2^-256 mod p, for a, b &lt; p.</summary>
    /// <remarks>Not inlined on purpose: a point formula with 14 inlined copies measured slower (code size, spills).</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static U256 Multiply(in U256 a, in U256 b)
    {
        ulong a0 = a.L0, a1 = a.L1, a2 = a.L2, a3 = a.L3;
        ulong b0 = b.L0, b1 = b.L1, b2 = b.L2, b3 = b.L3;

        // Schoolbook 512-bit product, one row per limb of a.
        ulong c = 0;
        ulong t0 = MultiplyAdd(a0, b0, 0, ref c);
        ulong t1 = MultiplyAdd(a0, b1, 0, ref c);
        ulong t2 = MultiplyAdd(a0, b2, 0, ref c);
        ulong t3 = MultiplyAdd(a0, b3, 0, ref c);
        ulong t4 = c;
        c = 0;
        t1 = MultiplyAdd(a1, b0, t1, ref c);
        t2 = MultiplyAdd(a1, b1, t2, ref c);
        t3 = MultiplyAdd(a1, b2, t3, ref c);
        t4 = MultiplyAdd(a1, b3, t4, ref c);
        ulong t5 = c;
        c = 0;
        t2 = MultiplyAdd(a2, b0, t2, ref c);
        t3 = MultiplyAdd(a2, b1, t3, ref c);
        t4 = MultiplyAdd(a2, b2, t4, ref c);
        t5 = MultiplyAdd(a2, b3, t5, ref c);
        ulong t6 = c;
        c = 0;
        t3 = MultiplyAdd(a3, b0, t3, ref c);
        t4 = MultiplyAdd(a3, b1, t4, ref c);
        t5 = MultiplyAdd(a3, b2, t5, ref c);
        t6 = MultiplyAdd(a3, b3, t6, ref c);
        ulong t7 = c;

        return Reduce(t0, t1, t2, t3, t4, t5, t6, t7);
    }

    /// <summary>a^2 * 2^-256 mod p, for a &lt; p: the six cross products are computed once and doubled.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static U256 Square(in U256 a)
    {
        ulong a0 = a.L0, a1 = a.L1, a2 = a.L2, a3 = a.L3;

        // Cross products a_i * a_j for i < j, at limb i + j.
        ulong c = 0;
        ulong t1 = MultiplyAdd(a0, a1, 0, ref c);
        ulong t2 = MultiplyAdd(a0, a2, 0, ref c);
        ulong t3 = MultiplyAdd(a0, a3, 0, ref c);
        ulong t4 = c;
        c = 0;
        t3 = MultiplyAdd(a1, a2, t3, ref c);
        t4 = MultiplyAdd(a1, a3, t4, ref c);
        ulong t5 = c;
        c = 0;
        t5 = MultiplyAdd(a2, a3, t5, ref c);
        ulong t6 = c;

        // Double them with a shift across limbs (twice the cross sum is below a^2 < 2^512, so no bit is lost).
        ulong t7 = t6 >> 63;
        t6 = (t6 << 1) | (t5 >> 63);
        t5 = (t5 << 1) | (t4 >> 63);
        t4 = (t4 << 1) | (t3 >> 63);
        t3 = (t3 << 1) | (t2 >> 63);
        t2 = (t2 << 1) | (t1 >> 63);
        t1 <<= 1;

        // Add the squares a_i^2 at limb 2i.
        ulong t0 = a0 * a0;
        ulong carry = 0;
        t1 = AddCarry(t1, MultiplyHigh(a0, a0), ref carry);
        t2 = AddCarry(t2, a1 * a1, ref carry);
        t3 = AddCarry(t3, MultiplyHigh(a1, a1), ref carry);
        t4 = AddCarry(t4, a2 * a2, ref carry);
        t5 = AddCarry(t5, MultiplyHigh(a2, a2), ref carry);
        t6 = AddCarry(t6, a3 * a3, ref carry);
        t7 = AddCarry(t7, MultiplyHigh(a3, a3), ref carry);

        return Reduce(t0, t1, t2, t3, t4, t5, t6, t7);
    }

    /// <summary>
    /// Montgomery reduction of T = t7..t0 &lt; p * 2^256: returns T * 2^-256 mod p. The low half
    /// is reduced on its own, (T_lo + m * p) / 2^256 &lt;= p, and the high half (below p) is added
    /// afterwards, so one conditional subtraction finishes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static U256 Reduce(ulong t0, ulong t1, ulong t2, ulong t3, ulong t4, ulong t5, ulong t6, ulong t7)
    {
        ReduceLimb(ref t0, ref t1, ref t2, ref t3);
        ReduceLimb(ref t0, ref t1, ref t2, ref t3);
        ReduceLimb(ref t0, ref t1, ref t2, ref t3);
        ReduceLimb(ref t0, ref t1, ref t2, ref t3);

        ulong carry = 0;
        ulong s0 = AddCarry(t0, t4, ref carry);
        ulong s1 = AddCarry(t1, t5, ref carry);
        ulong s2 = AddCarry(t2, t6, ref carry);
        ulong s3 = AddCarry(t3, t7, ref carry);
        return SubtractPIfNotBelow(s0, s1, s2, s3, carry);
    }

    /// <summary>
    /// (x + q * p) / 2^64 with q = x0, which clears the low limb (-p^-1 mod 2^64 = 1 for P-256).
    /// p's limbs make two of the three products shifts: q * (2^64 - 1) only carries q upwards,
    /// q * (2^32 - 1) + q = q * 2^32, and p's limb 2 is zero. For x &lt; 2^256 the result is below
    /// 2^192 + p &lt; 2^256, so it fits in four limbs again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ReduceLimb(ref ulong x0, ref ulong x1, ref ulong x2, ref ulong x3)
    {
        ulong q = x0;
        ulong y0 = x1 + (q << 32);
        ulong c = (q >> 32) + Below(y0, x1);
        ulong y1 = x2 + c;
        c = Below(y1, c);
        ulong lo = q * P3;
        ulong hi = MultiplyHigh(q, P3);
        ulong y2 = x3 + lo;
        hi += Below(y2, lo);
        y2 += c;
        hi += Below(y2, c);
        x0 = y0;
        x1 = y1;
        x2 = y2;
        x3 = hi;
    }

    /// <summary>s - p if the five-limb value s4..s0 (below 2p) is at least p, else s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static U256 SubtractPIfNotBelow(ulong s0, ulong s1, ulong s2, ulong s3, ulong s4)
    {
        ulong borrow = 0;
        ulong d0 = SubtractBorrow(s0, P0, ref borrow);
        ulong d1 = SubtractBorrow(s1, P1, ref borrow);
        ulong d2 = SubtractBorrow(s2, 0, ref borrow);
        ulong d3 = SubtractBorrow(s3, P3, ref borrow);

        // Keep s exactly when the five-limb subtraction borrows: s < p.
        ulong keep = 0 - (borrow & ~s4 & 1);
        return new U256(
            (s0 & keep) | (d0 & ~keep),
            (s1 & keep) | (d1 & ~keep),
            (s2 & keep) | (d2 & ~keep),
            (s3 & keep) | (d3 & ~keep));
    }

    /// <summary>a + b mod p, for a, b &lt; p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Add(in U256 a, in U256 b)
    {
        ulong carry = 0;
        ulong s0 = AddCarry(a.L0, b.L0, ref carry);
        ulong s1 = AddCarry(a.L1, b.L1, ref carry);
        ulong s2 = AddCarry(a.L2, b.L2, ref carry);
        ulong s3 = AddCarry(a.L3, b.L3, ref carry);
        return SubtractPIfNotBelow(s0, s1, s2, s3, carry);
    }

    /// <summary>2a mod p, for a &lt; p: a one-bit shift across the limbs instead of an addition chain.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Twice(in U256 a)
    {
        ulong a0 = a.L0, a1 = a.L1, a2 = a.L2, a3 = a.L3;
        return SubtractPIfNotBelow(a0 << 1, (a1 << 1) | (a0 >> 63), (a2 << 1) | (a1 >> 63), (a3 << 1) | (a2 >> 63), a3 >> 63);
    }

    /// <summary>a - b mod p, for a, b &lt; p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Subtract(in U256 a, in U256 b)
    {
        ulong borrow = 0;
        ulong d0 = SubtractBorrow(a.L0, b.L0, ref borrow);
        ulong d1 = SubtractBorrow(a.L1, b.L1, ref borrow);
        ulong d2 = SubtractBorrow(a.L2, b.L2, ref borrow);
        ulong d3 = SubtractBorrow(a.L3, b.L3, ref borrow);

        // On a borrow the difference wrapped by 2^256; adding p brings it back into [0, p).
        ulong mask = 0 - borrow;
        ulong carry = 0;
        d0 = AddCarry(d0, P0 & mask, ref carry);
        d1 = AddCarry(d1, P1 & mask, ref carry);
        d2 = AddCarry(d2, 0, ref carry);
        d3 = AddCarry(d3, P3 & mask, ref carry);
        return new U256(d0, d1, d2, d3);
    }
}
