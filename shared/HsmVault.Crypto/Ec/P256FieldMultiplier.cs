using System.Runtime.CompilerServices;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// Montgomery multiplication specialised to the P-256 prime: the modulus limbs are constants and
/// the four rounds are unrolled, which the JIT turns into straight-line code (the generic
/// <see cref="Montgomery256"/> is kept for the scalar field).
/// </summary>
internal static class P256FieldMultiplier
{
    private const ulong P0 = 0xFFFFFFFFFFFFFFFF;
    private const ulong P1 = 0x00000000FFFFFFFF;
    private const ulong P3 = 0xFFFFFFFF00000001;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MulAdd(ulong x, ulong y, ulong add, ref ulong carry)
    {
        ulong hi = Math.BigMul(x, y, out ulong lo);
        ulong s = lo + add;
        hi += ((lo & add) | ((lo | add) & ~s)) >> 63;
        ulong s2 = s + carry;
        hi += ((s & carry) | ((s | carry) & ~s2)) >> 63;
        carry = hi;
        return s2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AddCarry(ulong a, ulong b, ref ulong carry)
    {
        ulong s = a + b + carry;
        carry = ((a & b) | ((a | b) & ~s)) >> 63;
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SubBorrow(ulong a, ulong b, ref ulong borrow)
    {
        ulong d = a - b - borrow;
        borrow = ((~a & b) | ((~a | b) & d)) >> 63;
        return d;
    }

    /// <summary>r = a * b * 2^-256 mod p, constant-time.</summary>
    public static void Multiply(in U256 a, in U256 b, out U256 r)
    {
        ulong b0 = b.L0, b1 = b.L1, b2 = b.L2, b3 = b.L3;
        ulong t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5, c, k, q;

        // Round 0: t += a0 * b, then cancel t0 with t0 * p (p' = 1) and shift down one limb.
        c = 0;
        t0 = MulAdd(a.L0, b0, t0, ref c);
        t1 = MulAdd(a.L0, b1, t1, ref c);
        t2 = MulAdd(a.L0, b2, t2, ref c);
        t3 = MulAdd(a.L0, b3, t3, ref c);
        k = 0;
        t4 = AddCarry(t4, c, ref k);
        t5 = k;
        c = 0;
        _ = MulAdd(t0, P0, t0, ref c);
        q = t0;
        t0 = MulAdd(q, P1, t1, ref c);
        k = 0;
        t1 = AddCarry(t2, c, ref k);
        c = k;
        t2 = MulAdd(q, P3, t3, ref c);
        k = 0;
        t3 = AddCarry(t4, c, ref k);
        t4 = t5 + k;
        // Round 1: t += a1 * b, then cancel t0 with t0 * p (p' = 1) and shift down one limb.
        c = 0;
        t0 = MulAdd(a.L1, b0, t0, ref c);
        t1 = MulAdd(a.L1, b1, t1, ref c);
        t2 = MulAdd(a.L1, b2, t2, ref c);
        t3 = MulAdd(a.L1, b3, t3, ref c);
        k = 0;
        t4 = AddCarry(t4, c, ref k);
        t5 = k;
        c = 0;
        _ = MulAdd(t0, P0, t0, ref c);
        q = t0;
        t0 = MulAdd(q, P1, t1, ref c);
        k = 0;
        t1 = AddCarry(t2, c, ref k);
        c = k;
        t2 = MulAdd(q, P3, t3, ref c);
        k = 0;
        t3 = AddCarry(t4, c, ref k);
        t4 = t5 + k;
        // Round 2: t += a2 * b, then cancel t0 with t0 * p (p' = 1) and shift down one limb.
        c = 0;
        t0 = MulAdd(a.L2, b0, t0, ref c);
        t1 = MulAdd(a.L2, b1, t1, ref c);
        t2 = MulAdd(a.L2, b2, t2, ref c);
        t3 = MulAdd(a.L2, b3, t3, ref c);
        k = 0;
        t4 = AddCarry(t4, c, ref k);
        t5 = k;
        c = 0;
        _ = MulAdd(t0, P0, t0, ref c);
        q = t0;
        t0 = MulAdd(q, P1, t1, ref c);
        k = 0;
        t1 = AddCarry(t2, c, ref k);
        c = k;
        t2 = MulAdd(q, P3, t3, ref c);
        k = 0;
        t3 = AddCarry(t4, c, ref k);
        t4 = t5 + k;
        // Round 3: t += a3 * b, then cancel t0 with t0 * p (p' = 1) and shift down one limb.
        c = 0;
        t0 = MulAdd(a.L3, b0, t0, ref c);
        t1 = MulAdd(a.L3, b1, t1, ref c);
        t2 = MulAdd(a.L3, b2, t2, ref c);
        t3 = MulAdd(a.L3, b3, t3, ref c);
        k = 0;
        t4 = AddCarry(t4, c, ref k);
        t5 = k;
        c = 0;
        _ = MulAdd(t0, P0, t0, ref c);
        q = t0;
        t0 = MulAdd(q, P1, t1, ref c);
        k = 0;
        t1 = AddCarry(t2, c, ref k);
        c = k;
        t2 = MulAdd(q, P3, t3, ref c);
        k = 0;
        t3 = AddCarry(t4, c, ref k);
        t4 = t5 + k;

        ulong borrow = 0;
        ulong s0 = SubBorrow(t0, P0, ref borrow);
        ulong s1 = SubBorrow(t1, P1, ref borrow);
        ulong s2 = SubBorrow(t2, 0, ref borrow);
        ulong s3 = SubBorrow(t3, P3, ref borrow);
        ulong keep = 0 - (borrow & ~t4 & 1);
        r.L0 = (t0 & keep) | (s0 & ~keep);
        r.L1 = (t1 & keep) | (s1 & ~keep);
        r.L2 = (t2 & keep) | (s2 & ~keep);
        r.L3 = (t3 & keep) | (s3 & ~keep);
    }

    /// <summary>r = a + b mod p, constant-time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add(in U256 a, in U256 b, out U256 r)
    {
        ulong carry = 0;
        ulong t0 = AddCarry(a.L0, b.L0, ref carry);
        ulong t1 = AddCarry(a.L1, b.L1, ref carry);
        ulong t2 = AddCarry(a.L2, b.L2, ref carry);
        ulong t3 = AddCarry(a.L3, b.L3, ref carry);
        ulong borrow = 0;
        ulong s0 = SubBorrow(t0, P0, ref borrow);
        ulong s1 = SubBorrow(t1, P1, ref borrow);
        ulong s2 = SubBorrow(t2, 0, ref borrow);
        ulong s3 = SubBorrow(t3, P3, ref borrow);
        ulong keep = 0 - (borrow & ~carry & 1);
        r.L0 = (t0 & keep) | (s0 & ~keep);
        r.L1 = (t1 & keep) | (s1 & ~keep);
        r.L2 = (t2 & keep) | (s2 & ~keep);
        r.L3 = (t3 & keep) | (s3 & ~keep);
    }

    /// <summary>r = a - b mod p, constant-time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Subtract(in U256 a, in U256 b, out U256 r)
    {
        ulong borrow = 0;
        ulong t0 = SubBorrow(a.L0, b.L0, ref borrow);
        ulong t1 = SubBorrow(a.L1, b.L1, ref borrow);
        ulong t2 = SubBorrow(a.L2, b.L2, ref borrow);
        ulong t3 = SubBorrow(a.L3, b.L3, ref borrow);
        ulong mask = 0 - borrow;
        ulong carry = 0;
        r.L0 = AddCarry(t0, P0 & mask, ref carry);
        r.L1 = AddCarry(t1, P1 & mask, ref carry);
        r.L2 = AddCarry(t2, 0, ref carry);
        r.L3 = AddCarry(t3, P3 & mask, ref carry);
    }
}
