using System.Numerics;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Tests;

/// <summary>The P-256 field kernel against plain BigInteger arithmetic, on random and edge operands.</summary>
[TestClass]
public sealed class FieldArithmeticTests
{
    private static readonly BigInteger P = BigInteger.Parse("0FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", System.Globalization.NumberStyles.HexNumber);
    private static readonly BigInteger R = BigInteger.One << 256;
    private static readonly BigInteger RInverse = BigInteger.ModPow(R, P - 2, P);

    /// <summary>Edge operands (as canonical integers): 0, 1, 2, p-1, p-2, R mod p, 2^255, limb boundaries, all-ones limbs.</summary>
    private static IEnumerable<BigInteger> EdgeValues()
    {
        yield return BigInteger.Zero;
        yield return BigInteger.One;
        yield return 2;
        yield return P - 1;
        yield return P - 2;
        yield return R % P;
        yield return BigInteger.One << 255;
        yield return (BigInteger.One << 64) - 1;
        yield return BigInteger.One << 64;
        yield return (BigInteger.One << 192) - 1;
        yield return (BigInteger.One << 224) - 1;
        yield return (P - 1) / 2;
    }

    private static IEnumerable<BigInteger> RandomValues(int seed, int count)
    {
        var random = new Random(seed);
        var bytes = new byte[32];
        for (int i = 0; i < count; i++)
        {
            random.NextBytes(bytes);
            yield return new BigInteger(bytes, isUnsigned: true) % P;
        }
    }

    private static IEnumerable<BigInteger> Operands() => EdgeValues().Concat(RandomValues(7, 40));

    private static U256 Limbs(BigInteger value) => MontgomeryModulus.FromBig(value);

    private static BigInteger Value(U256 value) => MontgomeryModulus.ToBig(value);

    [TestMethod]
    public void Montgomery_multiplication_matches_a_times_b_over_R_mod_p()
    {
        var operands = Operands().ToArray();
        foreach (var a in operands)
        {
            foreach (var b in operands)
            {
                var expected = a * b * RInverse % P;
                Assert.AreEqual(expected, Value(P256Field.Multiply(Limbs(a), Limbs(b))), $"a={a:x} b={b:x}");
            }
        }
    }

    [TestMethod]
    public void Squaring_equals_multiplying_by_itself()
    {
        foreach (var a in EdgeValues().Concat(RandomValues(11, 500)))
        {
            var limbs = Limbs(a);
            var square = P256Field.Square(limbs);
            Assert.AreEqual(Value(P256Field.Multiply(limbs, limbs)), Value(square), $"a={a:x}");
            Assert.AreEqual(a * a * RInverse % P, Value(square), $"a={a:x}");
        }
    }

    [TestMethod]
    public void Addition_subtraction_negation_and_doubling_stay_reduced_modulo_p()
    {
        var operands = Operands().ToArray();
        foreach (var a in operands)
        {
            foreach (var b in operands)
            {
                Assert.AreEqual((a + b) % P, Value(P256Field.Add(Limbs(a), Limbs(b))), $"a+b a={a:x} b={b:x}");
                Assert.AreEqual(((a - b) % P + P) % P, Value(P256Field.Subtract(Limbs(a), Limbs(b))), $"a-b a={a:x} b={b:x}");
            }

            Assert.AreEqual((P - a) % P, Value(P256Field.Negate(Limbs(a))), $"-a a={a:x}");
            Assert.AreEqual(2 * a % P, Value(P256Field.Twice(Limbs(a))), $"2a a={a:x}");
        }
    }
}
