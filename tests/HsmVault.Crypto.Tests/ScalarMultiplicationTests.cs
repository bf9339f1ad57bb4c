using HsmVault.Crypto.Ec;
using Org.BouncyCastle.Crypto.EC;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class ScalarMultiplicationTests
{
    private static readonly Org.BouncyCastle.Asn1.X9.X9ECParameters Curve = CustomNamedCurves.GetByName("P-256");
    private static readonly BcBigInteger N = Curve.N;

    public static IEnumerable<object[]> EdgeScalars()
    {
        string[] small = ["1", "2", "3", "4", "5", "7", "8", "15", "16", "17", "255", "256", "65535"];
        foreach (var s in small)
        {
            yield return [s];
        }

        foreach (var offset in new[] { 1, 2, 3, 15, 16, 17 })
        {
            yield return [N.Subtract(BcBigInteger.ValueOf(offset)).ToString()];
        }

        yield return [BcBigInteger.One.ShiftLeft(255).ToString()];
        yield return [BcBigInteger.One.ShiftLeft(255).Subtract(BcBigInteger.One).ToString()];
        yield return [BcBigInteger.One.ShiftLeft(128).ToString()];
        yield return [new BcBigInteger("f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0", 16).ToString()];
        yield return [new BcBigInteger("8000000000000000000000000000000000000000000000000000000000000001", 16).ToString()];
        yield return [N.ShiftRight(1).ToString()];
    }

    [TestMethod]
    [DynamicData(nameof(EdgeScalars))]
    public void Regular_multiplication_agrees_with_BouncyCastle_for_edge_scalars(string decimalScalar)
    {
        var k = new BcBigInteger(decimalScalar);
        var scalar = k.ToByteArrayUnsigned().PadLeft(32);
        var random = new SeededRandomSource(k.IntValue);
        var point = P256Group.MultiplyGenerator(P256Group.RandomScalar(random));

        var expected = Curve.Curve.DecodePoint(point).Multiply(k).GetEncoded(true);
        CollectionAssert.AreEqual(expected, P256Group.Multiply(scalar, point), "k*P");
        CollectionAssert.AreEqual(Curve.G.Multiply(k).GetEncoded(true), P256Group.MultiplyGenerator(scalar), "k*G");
    }

    [TestMethod]
    public void Regular_multiplication_agrees_with_BouncyCastle_for_random_scalars()
    {
        var random = new SeededRandomSource(20261127);
        for (int i = 0; i < 40; i++)
        {
            var scalar = P256Group.RandomScalar(random);
            var point = P256Group.MultiplyGenerator(P256Group.RandomScalar(random));
            var k = new BcBigInteger(1, scalar);
            CollectionAssert.AreEqual(Curve.Curve.DecodePoint(point).Multiply(k).GetEncoded(true), P256Group.Multiply(scalar, point), $"k*P #{i}");
            CollectionAssert.AreEqual(Curve.G.Multiply(k).GetEncoded(true), P256Group.MultiplyGenerator(scalar), $"k*G #{i}");
        }
    }

    [TestMethod]
    public void Multiplying_by_n_minus_one_gives_the_negated_point()
    {
        var point = P256Group.Generator;
        var nMinusOne = N.Subtract(BcBigInteger.One).ToByteArrayUnsigned().PadLeft(32);
        var product = P256Group.Multiply(nMinusOne, point);
        CollectionAssert.AreEqual(point[1..], product[1..]);
        Assert.AreNotEqual(point[0], product[0]);
    }

    [TestMethod]
    public void Scalars_that_are_zero_or_not_below_the_order_are_rejected()
    {
        var g = P256Group.Generator;
        var zero = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.Multiply(new byte[32], g));
        StringAssert.Contains(zero.Message, "zero");
        foreach (var bad in new[] { N, N.Add(BcBigInteger.One), BcBigInteger.One.ShiftLeft(256).Subtract(BcBigInteger.One) })
        {
            var e = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.Multiply(bad.ToByteArrayUnsigned().PadLeft(32), g));
            Assert.AreEqual("scalar", e.ParamName);
            StringAssert.Contains(e.Message, "order");
        }

        Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.Multiply(new byte[31], g));
        Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.Multiply(new byte[33], g));
    }
}

internal static class ByteArrayPadding
{
    public static byte[] PadLeft(this byte[] value, int length)
    {
        var result = new byte[length];
        value.CopyTo(result, length - value.Length);
        return result;
    }
}
