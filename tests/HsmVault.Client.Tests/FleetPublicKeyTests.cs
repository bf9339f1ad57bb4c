namespace HsmVault.Client.Tests;

[TestClass]
public sealed class FleetPublicKeyTests
{
    private static readonly byte[] Sample = [0x03, .. Enumerable.Range(1, 32).Select(i => (byte)i)];

    [TestMethod]
    public void Parses_hex_and_base64_to_the_same_key()
    {
        var fromHex = FleetPublicKey.Parse(Convert.ToHexString(Sample));
        var fromBase64 = FleetPublicKey.Parse(" " + Convert.ToBase64String(Sample) + "\n");

        CollectionAssert.AreEqual(Sample, fromHex.ToArray());
        CollectionAssert.AreEqual(Sample, fromBase64.ToArray());
    }

    [TestMethod]
    [DataRow("", "empty")]
    [DataRow("xyz!", "expected 66 hex characters")]
    [DataRow("AQID", "must be 33 bytes")]
    public void Rejects_malformed_text_with_a_reason(string text, string reason)
    {
        var error = Assert.ThrowsExactly<FormatException>(() => FleetPublicKey.Parse(text));
        StringAssert.Contains(error.Message, reason);
    }

    [TestMethod]
    public void Rejects_an_uncompressed_prefix()
    {
        byte[] bad = (byte[])Sample.Clone();
        bad[0] = 0x04;

        var error = Assert.ThrowsExactly<FormatException>(() => FleetPublicKey.FromBytes(bad));
        StringAssert.Contains(error.Message, "0x04");
    }
}
