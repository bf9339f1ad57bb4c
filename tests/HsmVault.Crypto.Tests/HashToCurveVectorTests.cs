using HsmVault.Crypto.HashToCurve;
using HsmVault.Crypto.Tests.Vectors;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class HashToCurveVectorTests
{
    public static IEnumerable<object[]> HashToCurveCases => Rfc9380Vectors.HashToCurve.Select(v => new object[] { v });

    public static IEnumerable<object[]> ExpandCases =>
        Rfc9380Vectors.ExpandShort.Select(v => new object[] { Rfc9380Vectors.ExpandDstShort, v })
            .Concat(Rfc9380Vectors.ExpandLong.Select(v => new object[] { Rfc9380Vectors.ExpandDstLong, v }));

    [TestMethod]
    [DynamicData(nameof(HashToCurveCases))]
    public void Hash_to_curve_matches_every_RFC_9380_P256_vector_at_each_step(string[] v)
    {
        var msg = Convert.FromHexString(v[0]);
        var dst = System.Text.Encoding.ASCII.GetBytes(Rfc9380Vectors.HashToCurveDst);

        var u = P256HashToCurve.HashToField(msg, dst, 2);
        Assert.AreEqual(v[1], Convert.ToHexStringLower(u[0]), "u0");
        Assert.AreEqual(v[2], Convert.ToHexStringLower(u[1]), "u1");

        var q0 = P256HashToCurve.MapToCurve(u[0]);
        Assert.AreEqual(v[3], Convert.ToHexStringLower(q0.X), "Q0.x");
        Assert.AreEqual(v[4], Convert.ToHexStringLower(q0.Y), "Q0.y");
        var q1 = P256HashToCurve.MapToCurve(u[1]);
        Assert.AreEqual(v[5], Convert.ToHexStringLower(q1.X), "Q1.x");
        Assert.AreEqual(v[6], Convert.ToHexStringLower(q1.Y), "Q1.y");

        var p = P256HashToCurve.HashToCurve(msg, dst);
        var yIsOdd = Convert.FromHexString(v[8])[^1] & 1;
        Assert.AreEqual((yIsOdd == 1 ? "03" : "02") + v[7], Convert.ToHexStringLower(p), "P");
    }

    [TestMethod]
    [DynamicData(nameof(ExpandCases))]
    public void Expand_message_xmd_matches_every_RFC_9380_SHA256_vector(string dst, string[] v)
    {
        var output = ExpandMessageXmd.Expand(Convert.FromHexString(v[0]), System.Text.Encoding.ASCII.GetBytes(dst), int.Parse(v[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.AreEqual(v[3], Convert.ToHexStringLower(output));
    }

    [TestMethod]
    public void Expand_message_xmd_rejects_an_empty_DST_and_impossible_lengths()
    {
        var e = Assert.ThrowsExactly<CryptoFormatException>(() => ExpandMessageXmd.Expand("m"u8, ReadOnlySpan<byte>.Empty, 32));
        Assert.AreEqual("dst", e.ParamName);
        Assert.ThrowsExactly<CryptoFormatException>(() => ExpandMessageXmd.Expand("m"u8, "d"u8, 0));
        Assert.ThrowsExactly<CryptoFormatException>(() => ExpandMessageXmd.Expand("m"u8, "d"u8, (255 * 32) + 1));
    }

    [TestMethod]
    public void Map_to_curve_rejects_a_field_element_that_is_not_below_p()
    {
        var p = Convert.FromHexString("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
        var e = Assert.ThrowsExactly<CryptoFormatException>(() => P256HashToCurve.MapToCurve(p));
        Assert.AreEqual("fieldElement", e.ParamName);
    }
}
