using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace HsmVault.Crypto.Ec;

/// <summary>
/// A 256-bit unsigned integer as four little-endian 64-bit limbs. Field and scalar elements are
/// kept in this form so arithmetic never allocates and never branches on the value.
/// </summary>
internal struct U256
{
    public ulong L0;
    public ulong L1;
    public ulong L2;
    public ulong L3;

    // Forced: the point formulas inline hundreds of small helpers, and past the JIT's inlining
    // budget even this would become a call.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public U256(ulong l0, ulong l1, ulong l2, ulong l3)
    {
        L0 = l0;
        L1 = l1;
        L2 = l2;
        L3 = l3;
    }

    public static U256 FromBigEndian(ReadOnlySpan<byte> bytes32) => new(
        BinaryPrimitives.ReadUInt64BigEndian(bytes32.Slice(24, 8)),
        BinaryPrimitives.ReadUInt64BigEndian(bytes32.Slice(16, 8)),
        BinaryPrimitives.ReadUInt64BigEndian(bytes32.Slice(8, 8)),
        BinaryPrimitives.ReadUInt64BigEndian(bytes32.Slice(0, 8)));

    public readonly void WriteBigEndian(Span<byte> destination32)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination32.Slice(0, 8), L3);
        BinaryPrimitives.WriteUInt64BigEndian(destination32.Slice(8, 8), L2);
        BinaryPrimitives.WriteUInt64BigEndian(destination32.Slice(16, 8), L1);
        BinaryPrimitives.WriteUInt64BigEndian(destination32.Slice(24, 8), L0);
    }

    /// <summary>Returns all-ones when the value is zero, else zero; no branch on the value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly ulong IsZeroMask()
    {
        ulong x = L0 | L1 | L2 | L3;
        return ((x | (0 - x)) >> 63) - 1;
    }

    /// <summary>Returns all-ones when equal, else zero; no branch on the values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EqualMask(in U256 a, in U256 b)
    {
        ulong x = (a.L0 ^ b.L0) | (a.L1 ^ b.L1) | (a.L2 ^ b.L2) | (a.L3 ^ b.L3);
        return ((x | (0 - x)) >> 63) - 1;
    }

    /// <summary>Returns <paramref name="a"/> where mask is all-ones, <paramref name="b"/> where it is zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static U256 Select(ulong mask, in U256 a, in U256 b) => new(
        (a.L0 & mask) | (b.L0 & ~mask),
        (a.L1 & mask) | (b.L1 & ~mask),
        (a.L2 & mask) | (b.L2 & ~mask),
        (a.L3 & mask) | (b.L3 & ~mask));

    /// <summary>Variable-time comparison; only for public values such as decoded inputs.</summary>
    public static bool LessThan(in U256 a, in U256 b)
    {
        if (a.L3 != b.L3)
        {
            return a.L3 < b.L3;
        }

        if (a.L2 != b.L2)
        {
            return a.L2 < b.L2;
        }

        if (a.L1 != b.L1)
        {
            return a.L1 < b.L1;
        }

        return a.L0 < b.L0;
    }

    /// <summary>Bits [4*index, 4*index+4) of the value.</summary>
    public readonly uint Nibble(int index)
    {
        int limb = index >> 4;
        ulong word = limb switch { 0 => L0, 1 => L1, 2 => L2, _ => L3 };
        return (uint)(word >> ((index & 15) * 4)) & 0xF;
    }
}
