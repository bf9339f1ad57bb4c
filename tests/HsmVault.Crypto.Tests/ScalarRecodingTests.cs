using System.Numerics;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Tests;

/// <summary>The signed 5-bit window recoding used by the variable-base multiplication.</summary>
[TestClass]
public sealed class ScalarRecodingTests
{
    private static readonly BigInteger N = BigInteger.Parse("0FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", System.Globalization.NumberStyles.HexNumber);

    private static IEnumerable<BigInteger> Scalars()
    {
        BigInteger[] edges =
        [
            BigInteger.Zero, BigInteger.One, 2, 15, 16, 17, 31, 32, 33, N - 1, N - 2, N >> 1,
            BigInteger.One << 255, (BigInteger.One << 255) - 1, (BigInteger.One << 256) - 1,
            BigInteger.One << 254, BigInteger.One << 128, (BigInteger.One << 64) - 1,
        ];
        foreach (var e in edges)
        {
            yield return e;
        }

        var random = new Random(5);
        var bytes = new byte[32];
        for (int i = 0; i < 200; i++)
        {
            random.NextBytes(bytes);
            yield return new BigInteger(bytes, isUnsigned: true);
        }
    }

    [TestMethod]
    public void Signed_digits_reconstruct_the_scalar_and_stay_within_sixteen()
    {
        foreach (var k in Scalars())
        {
            var limbs = MontgomeryModulus.FromBig(k);
            var sum = BigInteger.Zero;
            for (int i = ScalarRecoding.DigitCount - 1; i >= 0; i--)
            {
                int digit = ScalarRecoding.Digit(limbs, i);
                Assert.IsTrue(digit is >= -16 and <= 16, $"digit {i} of {k:x} is {digit}");
                sum = (sum << ScalarRecoding.WindowBits) + digit;
            }

            Assert.AreEqual(k, sum, $"k={k:x}");
        }
    }

    [TestMethod]
    public void Magnitude_and_sign_mask_split_every_digit()
    {
        for (int digit = -16; digit <= 16; digit++)
        {
            uint magnitude = ScalarRecoding.Magnitude(digit, out ulong negative);
            Assert.AreEqual((uint)Math.Abs(digit), magnitude, $"|{digit}|");
            Assert.AreEqual(digit < 0 ? ulong.MaxValue : 0UL, negative, $"sign of {digit}");
        }
    }
}
