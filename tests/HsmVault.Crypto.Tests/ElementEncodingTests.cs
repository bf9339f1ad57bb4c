using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class ElementEncodingTests
{
    private const string FieldPrime = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";

    [TestMethod]
    public void The_identity_is_rejected_in_every_encoding()
    {
        var single = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement([0x00], "element"));
        StringAssert.Contains(single.Message, "identity");
        var padded = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement(new byte[33], "element"));
        StringAssert.Contains(padded.Message, "identity");
    }

    [TestMethod]
    public void A_point_off_the_curve_is_rejected()
    {
        // Small x values are on the curve about half the time (x = 1..4 are not, 5 and 6 are).
        int rejected = 0;
        for (byte x = 1; x < 20; x++)
        {
            var encoded = new byte[33];
            encoded[0] = 0x02;
            encoded[32] = x;
            try
            {
                P256Group.ValidateElement(encoded, "element");
            }
            catch (CryptoFormatException e)
            {
                StringAssert.Contains(e.Message, "not on the P-256 curve");
                rejected++;
            }
        }

        Assert.IsTrue(rejected is > 3 and < 19, $"about half of small x values are off the curve, got {rejected}");
    }

    [TestMethod]
    public void An_x_coordinate_at_or_above_the_field_prime_is_rejected()
    {
        var encoded = Convert.FromHexString("02" + FieldPrime);
        var e = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement(encoded, "element"));
        StringAssert.Contains(e.Message, "field prime");
    }

    [TestMethod]
    public void Wrong_lengths_and_prefixes_are_rejected_with_the_field_name()
    {
        var g = P256Group.Generator;
        var uncompressed = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement(new byte[65], "ke1.blindedMessage"));
        Assert.AreEqual("ke1.blindedMessage", uncompressed.ParamName);
        Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement(g[..32], "element"));
        Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement([.. g, 0], "element"));
        var wrongPrefix = (byte[])g.Clone();
        wrongPrefix[0] = 0x04;
        var e = Assert.ThrowsExactly<CryptoFormatException>(() => P256Group.ValidateElement(wrongPrefix, "element"));
        StringAssert.Contains(e.Message, "prefix");
    }

    [TestMethod]
    public void A_valid_point_round_trips_with_both_parities()
    {
        var random = new SeededRandomSource(7);
        var seen = new HashSet<byte>();
        for (int i = 0; i < 16; i++)
        {
            var point = P256Group.MultiplyGenerator(P256Group.RandomScalar(random));
            P256Group.ValidateElement(point, "element");
            var one = new byte[32];
            one[31] = 1;
            CollectionAssert.AreEqual(point, P256Group.Multiply(one, point));
            seen.Add(point[0]);
        }

        Assert.AreEqual(2, seen.Count, "both 0x02 and 0x03 prefixes occur");
    }
}
