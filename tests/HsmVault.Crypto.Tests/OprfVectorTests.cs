using HsmVault.Crypto.Oprf;
using HsmVault.Crypto.Tests.Vectors;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class OprfVectorTests
{
    public static IEnumerable<object[]> Mode0Cases => Rfc9497Vectors.Mode0.Select(v => new object[] { v });

    [TestMethod]
    public void Context_string_gives_the_RFC_9497_group_DST()
    {
        Assert.AreEqual(Rfc9497Vectors.GroupDst, Convert.ToHexStringLower([.. "HashToGroup-"u8, .. P256Sha256Oprf.ContextString]));
    }

    [TestMethod]
    public void DeriveKeyPair_matches_the_RFC_9497_P256_private_key()
    {
        var keys = P256Sha256Oprf.DeriveKeyPair(Convert.FromHexString(Rfc9497Vectors.Seed), Convert.FromHexString(Rfc9497Vectors.KeyInfo));
        Assert.AreEqual(Rfc9497Vectors.SkSm, Convert.ToHexStringLower(keys.PrivateKey));
        Assert.AreEqual(33, keys.PublicKey.Length);
    }

    [TestMethod]
    [DynamicData(nameof(Mode0Cases))]
    public void Blind_evaluate_and_finalize_match_every_RFC_9497_P256_mode0_vector(string[] v)
    {
        var input = Convert.FromHexString(v[0]);
        var random = new ReplayRandomSource(v[1]);

        var blinded = P256Sha256Oprf.Blind(input, random, out var blind);
        Assert.AreEqual(v[1], Convert.ToHexStringLower(blind), "Blind");
        Assert.AreEqual(v[2], Convert.ToHexStringLower(blinded), "BlindedElement");

        var evaluated = P256Sha256Oprf.BlindEvaluate(Convert.FromHexString(Rfc9497Vectors.SkSm), blinded);
        Assert.AreEqual(v[3], Convert.ToHexStringLower(evaluated), "EvaluationElement");

        var output = P256Sha256Oprf.Finalize(input, blind, evaluated);
        Assert.AreEqual(v[4], Convert.ToHexStringLower(output), "Output");
    }

    [TestMethod]
    public void Blind_rejects_draws_at_or_above_the_order_and_uses_the_next_one()
    {
        var order = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
        var zero = new string('0', 64);
        var random = new ReplayRandomSource(order, zero, Rfc9497Vectors.Mode0[0][1]);
        var blinded = P256Sha256Oprf.Blind(Convert.FromHexString(Rfc9497Vectors.Mode0[0][0]), random, out _);
        Assert.AreEqual(Rfc9497Vectors.Mode0[0][2], Convert.ToHexStringLower(blinded));
        Assert.AreEqual(0, random.Remaining);
    }

    [TestMethod]
    public void DeriveKeyPair_rejects_a_seed_of_the_wrong_length()
    {
        var e = Assert.ThrowsExactly<CryptoFormatException>(() => P256Sha256Oprf.DeriveKeyPair(new byte[31], "info"u8));
        Assert.AreEqual("seed", e.ParamName);
    }

    [TestMethod]
    public void BlindEvaluate_rejects_a_zero_or_non_canonical_key()
    {
        var blinded = Convert.FromHexString(Rfc9497Vectors.Mode0[0][2]);
        var zero = Assert.ThrowsExactly<CryptoFormatException>(() => P256Sha256Oprf.BlindEvaluate(new byte[32], blinded));
        Assert.AreEqual("privateKey", zero.ParamName);
        StringAssert.Contains(zero.Message, "zero");
        var order = Convert.FromHexString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        var big = Assert.ThrowsExactly<CryptoFormatException>(() => P256Sha256Oprf.BlindEvaluate(order, blinded));
        StringAssert.Contains(big.Message, "order");
    }
}
