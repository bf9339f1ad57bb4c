using System.Runtime.CompilerServices;
using static HsmVault.Crypto.Ec.LimbArithmetic;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// Constant-time Montgomery arithmetic (R = 2^256) modulo a 256-bit odd modulus. Every routine
/// runs the same instruction sequence whatever the operand values: carries are computed with
/// bit logic and reductions use masks, never branches.
/// </summary>
internal static class Montgomery256
{
    /// <summary>r = a * b * 2^-256 mod m, for a, b &lt; m. <paramref name="mPrime"/> = -m^-1 mod 2^64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Multiply(in U256 a, in U256 b, in U256 m, ulong mPrime, out U256 r)
    {
        ulong b0 = b.L0, b1 = b.L1, b2 = b.L2, b3 = b.L3;
        ulong m0 = m.L0, m1 = m.L1, m2 = m.L2, m3 = m.L3;
        ulong t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5;
        ulong c, k;

        // Coarsely integrated operand scanning: add a_i * b, then cancel the low limb with a
        // multiple of m and shift down one limb. The running value stays below 2m.
        ulong ai = a.L0;
        for (int i = 0; i < 4; i++)
        {
            c = 0;
            t0 = MultiplyAdd(ai, b0, t0, ref c);
            t1 = MultiplyAdd(ai, b1, t1, ref c);
            t2 = MultiplyAdd(ai, b2, t2, ref c);
            t3 = MultiplyAdd(ai, b3, t3, ref c);
            k = 0;
            t4 = AddCarry(t4, c, ref k);
            t5 = k;

            ulong q = t0 * mPrime;
            c = 0;
            _ = MultiplyAdd(q, m0, t0, ref c);
            t0 = MultiplyAdd(q, m1, t1, ref c);
            t1 = MultiplyAdd(q, m2, t2, ref c);
            t2 = MultiplyAdd(q, m3, t3, ref c);
            k = 0;
            t3 = AddCarry(t4, c, ref k);
            t4 = t5 + k;

            ai = i switch { 0 => a.L1, 1 => a.L2, _ => a.L3 };
        }

        ulong borrow = 0;
        ulong s0 = SubtractBorrow(t0, m0, ref borrow);
        ulong s1 = SubtractBorrow(t1, m1, ref borrow);
        ulong s2 = SubtractBorrow(t2, m2, ref borrow);
        ulong s3 = SubtractBorrow(t3, m3, ref borrow);

        // Keep t only when t < m, i.e. the subtraction borrowed and there is no fifth limb.
        ulong keep = 0 - (borrow & ~t4 & 1);
        r = new U256(
            (t0 & keep) | (s0 & ~keep),
            (t1 & keep) | (s1 & ~keep),
            (t2 & keep) | (s2 & ~keep),
            (t3 & keep) | (s3 & ~keep));
    }

    /// <summary>r = a + b mod m, for a, b &lt; m.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add(in U256 a, in U256 b, in U256 m, out U256 r)
    {
        ulong carry = 0;
        ulong t0 = AddCarry(a.L0, b.L0, ref carry);
        ulong t1 = AddCarry(a.L1, b.L1, ref carry);
        ulong t2 = AddCarry(a.L2, b.L2, ref carry);
        ulong t3 = AddCarry(a.L3, b.L3, ref carry);
        ulong borrow = 0;
        ulong s0 = SubtractBorrow(t0, m.L0, ref borrow);
        ulong s1 = SubtractBorrow(t1, m.L1, ref borrow);
        ulong s2 = SubtractBorrow(t2, m.L2, ref borrow);
        ulong s3 = SubtractBorrow(t3, m.L3, ref borrow);
        ulong keep = 0 - (borrow & ~carry & 1);
        r = new U256(
            (t0 & keep) | (s0 & ~keep),
            (t1 & keep) | (s1 & ~keep),
            (t2 & keep) | (s2 & ~keep),
            (t3 & keep) | (s3 & ~keep));
    }

    /// <summary>r = a - b mod m, for a, b &lt; m.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Subtract(in U256 a, in U256 b, in U256 m, out U256 r)
    {
        ulong borrow = 0;
        ulong t0 = SubtractBorrow(a.L0, b.L0, ref borrow);
        ulong t1 = SubtractBorrow(a.L1, b.L1, ref borrow);
        ulong t2 = SubtractBorrow(a.L2, b.L2, ref borrow);
        ulong t3 = SubtractBorrow(a.L3, b.L3, ref borrow);
        ulong mask = 0 - borrow;
        ulong carry = 0;
        r.L0 = AddCarry(t0, m.L0 & mask, ref carry);
        r.L1 = AddCarry(t1, m.L1 & mask, ref carry);
        r.L2 = AddCarry(t2, m.L2 & mask, ref carry);
        r.L3 = AddCarry(t3, m.L3 & mask, ref carry);
    }

    /// <summary>Reduces any 256-bit value below m, given m &gt; 2^255 (one conditional subtraction suffices).</summary>
    public static U256 ReduceOnce(in U256 a, in U256 m)
    {
        ulong borrow = 0;
        ulong s0 = SubtractBorrow(a.L0, m.L0, ref borrow);
        ulong s1 = SubtractBorrow(a.L1, m.L1, ref borrow);
        ulong s2 = SubtractBorrow(a.L2, m.L2, ref borrow);
        ulong s3 = SubtractBorrow(a.L3, m.L3, ref borrow);
        ulong keep = 0 - borrow;
        return U256.Select(keep, a, new U256(s0, s1, s2, s3));
    }

    /// <summary>
    /// r = a^e (Montgomery form in and out) for a public exponent e, with a fixed 4-bit window.
    /// The exponent is public, so skipping zero windows leaks nothing about a.
    /// </summary>
    public static void Power(in U256 a, in U256 exponent, in U256 one, in U256 m, ulong mPrime, out U256 r)
    {
        Span<U256> table = stackalloc U256[16];
        table[0] = one;
        table[1] = a;
        for (int i = 2; i < 16; i++)
        {
            Multiply(table[i - 1], a, m, mPrime, out table[i]);
        }

        U256 acc = one;
        bool started = false;
        for (int w = 63; w >= 0; w--)
        {
            if (started)
            {
                Multiply(acc, acc, m, mPrime, out acc);
                Multiply(acc, acc, m, mPrime, out acc);
                Multiply(acc, acc, m, mPrime, out acc);
                Multiply(acc, acc, m, mPrime, out acc);
            }

            uint digit = exponent.Nibble(w);
            if (digit != 0)
            {
                if (started)
                {
                    Multiply(acc, table[(int)digit], m, mPrime, out acc);
                }
                else
                {
                    acc = table[(int)digit];
                    started = true;
                }
            }
        }

        r = acc;
    }
}
