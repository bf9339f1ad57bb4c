namespace HsmVault.Crypto.Ec;

/// <summary>
/// Signed 5-bit window recoding (Booth): k = sum of d_i * 32^i over <see cref="DigitCount"/>
/// digits d_i in [-16, 16]. Each digit is computed from six bits of k with arithmetic only, so
/// the recoding has no branch and no memory index that depends on k.
/// </summary>
internal static class ScalarRecoding
{
    public const int WindowBits = 5;

    /// <summary>Number of digits for any k &lt; 2^256: 52 windows cover bits 0..259, so the top window never needs a carry out.</summary>
    public const int DigitCount = 52;

    /// <summary>
    /// Digit i: bits 5i..5i+3 of k, plus bit 5i-1 (the carry from the window below), minus
    /// 16 * bit 5i+4 (which the window above counts as its +1 carry, worth 32 * 32^i).
    /// </summary>
    public static int Digit(in U256 k, int index)
    {
        // w = bits 5i-1 .. 5i+4 of k; bit -1 is zero. The bit positions depend only on the
        // public index, never on k.
        ulong w = index == 0 ? (k.L0 << 1) & 0x3F : Bits(k, (WindowBits * index) - 1) & 0x3F;
        return (int)(w & 1) + (int)((w >> 1) & 0xF) - (int)((w >> 5) << 4);
    }

    /// <summary>Splits a digit into its magnitude 0..16 and an all-ones mask when it is negative, without branching.</summary>
    public static uint Magnitude(int digit, out ulong negativeMask)
    {
        int sign = digit >> 31;
        negativeMask = (ulong)(long)sign;
        return (uint)((digit ^ sign) - sign);
    }

    /// <summary>The (up to) 64 bits of k starting at bit <paramref name="position"/>, zero above bit 255.</summary>
    private static ulong Bits(in U256 k, int position)
    {
        int limb = position >> 6;
        int offset = position & 63;
        ulong low = Limb(k, limb) >> offset;
        ulong high = offset == 0 || limb == 3 ? 0 : Limb(k, limb + 1) << (64 - offset);
        return low | high;
    }

    private static ulong Limb(in U256 k, int limb) => limb switch { 0 => k.L0, 1 => k.L1, 2 => k.L2, _ => k.L3 };
}
