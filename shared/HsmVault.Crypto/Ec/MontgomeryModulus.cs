using System.Numerics;

namespace HsmVault.Crypto.Ec;

/// <summary>The constants Montgomery arithmetic needs for one modulus, derived once from the modulus itself.</summary>
internal sealed class MontgomeryModulus
{
    public MontgomeryModulus(string modulusHex)
    {
        var m = BigInteger.Parse("0" + modulusHex, System.Globalization.NumberStyles.HexNumber);
        Modulus = FromBig(m);
        ulong inverse = Modulus.L0;
        for (int i = 0; i < 6; i++)
        {
            // Newton iteration doubles the number of correct low bits of m^-1 mod 2^64.
            inverse *= 2 - (Modulus.L0 * inverse);
        }

        MPrime = 0 - inverse;
        var r = BigInteger.One << 256;
        One = FromBig(r % m);
        RSquared = FromBig(r * r % m);
        MinusTwo = FromBig(m - 2);
        Value = m;
    }

    public BigInteger Value { get; }

    public U256 Modulus { get; }

    public ulong MPrime { get; }

    /// <summary>1 in Montgomery form (2^256 mod m).</summary>
    public U256 One { get; }

    public U256 RSquared { get; }

    public U256 MinusTwo { get; }

    public static U256 FromBig(BigInteger value)
    {
        Span<byte> bytes = stackalloc byte[32];
        if (!value.TryWriteBytes(bytes, out _, isUnsigned: true, isBigEndian: false))
        {
            throw new ArgumentOutOfRangeException(nameof(value), "value does not fit in 256 bits");
        }

        return new U256(
            BitConverter.ToUInt64(bytes[..8]),
            BitConverter.ToUInt64(bytes[8..16]),
            BitConverter.ToUInt64(bytes[16..24]),
            BitConverter.ToUInt64(bytes[24..32]));
    }

    public static BigInteger ToBig(in U256 value)
    {
        Span<byte> bytes = stackalloc byte[32];
        value.WriteBigEndian(bytes);
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
    }
}
