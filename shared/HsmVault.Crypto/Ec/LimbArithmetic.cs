using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// 64-bit limb primitives shared by the field and scalar arithmetic: products, carries and
/// borrows as values, never as branches, so the code around them stays constant-time.
/// </summary>
internal static class LimbArithmetic
{
    /// <summary>1 when a &lt; b (unsigned), else 0: a carry or borrow as a value, without a branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Below(ulong a, ulong b) => Unsafe.BitCast<bool, byte>(a < b);

    /// <summary>High 64 bits of x * y. The low half is a plain (wrapping) multiplication.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MultiplyHigh(ulong x, ulong y)
    {
        // MULX's high-only form needs no memory for the low half; Math.BigMul's out parameter
        // forces it through the stack.
        if (Bmi2.X64.IsSupported)
        {
            return Bmi2.X64.MultiplyNoFlags(x, y);
        }

        return Math.BigMul(x, y, out _);
    }

    /// <summary>Low limb of x * y + add + carry; the high limb goes to carry. Cannot overflow 128 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MultiplyAdd(ulong x, ulong y, ulong add, ref ulong carry)
    {
        ulong lo = x * y;
        ulong hi = MultiplyHigh(x, y);
        lo += add;
        hi += Below(lo, add);
        lo += carry;
        hi += Below(lo, carry);
        carry = hi;
        return lo;
    }

    /// <summary>a + b + carry (carry 0 or 1); the carry out replaces carry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddCarry(ulong a, ulong b, ref ulong carry)
    {
        ulong s = a + b + carry;
        carry = ((a & b) | ((a | b) & ~s)) >> 63;
        return s;
    }

    /// <summary>a - b - borrow (borrow 0 or 1); the borrow out replaces borrow.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SubtractBorrow(ulong a, ulong b, ref ulong borrow)
    {
        ulong d = a - b - borrow;
        borrow = ((~a & b) | (~(a ^ b) & d)) >> 63;
        return d;
    }
}
