using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Tests.Vectors;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class HpkeVectorTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static string Lower(byte[] bytes) => Convert.ToHexStringLower(bytes);

    [TestMethod]
    public void DeriveKeyPair_matches_the_RFC_9180_sender_and_recipient_keys()
    {
        (byte[] skE, byte[] pkE) = HpkeP256.DeriveKeyPair(Hex(Rfc9180Vectors.IkmE));
        (byte[] skR, byte[] pkR) = HpkeP256.DeriveKeyPair(Hex(Rfc9180Vectors.IkmR));
        Assert.AreEqual(Rfc9180Vectors.SkEm, Lower(skE), "skEm");
        Assert.AreEqual(Rfc9180Vectors.PkEm, Lower(pkE), "pkEm");
        Assert.AreEqual(Rfc9180Vectors.SkRm, Lower(skR), "skRm");
        Assert.AreEqual(Rfc9180Vectors.PkRm, Lower(pkR), "pkRm");
    }

    [TestMethod]
    public void Sender_setup_matches_the_RFC_9180_encapsulation_and_key_schedule()
    {
        using HpkeContext sender = HpkeP256.SetupBaseSenderWith(Hex(Rfc9180Vectors.SkEm), Hex(Rfc9180Vectors.PkRm), Hex(Rfc9180Vectors.Info), out byte[] enc);
        Assert.AreEqual(Rfc9180Vectors.Enc, Lower(enc), "enc");
        Assert.AreEqual(Rfc9180Vectors.Key, Lower(sender.Key), "key");
        Assert.AreEqual(Rfc9180Vectors.BaseNonce, Lower(sender.BaseNonce), "base_nonce");
        Assert.AreEqual(Rfc9180Vectors.ExporterSecret, Lower(sender.ExporterSecret), "exporter_secret");
    }

    [TestMethod]
    public void Shared_secret_matches_the_RFC_9180_value_on_both_sides()
    {
        using var recipient = P256HpkeKeyPair.FromPrivateKey(Hex(Rfc9180Vectors.SkRm));
        byte[] dhR = recipient.DiffieHellmanX(Hex(Rfc9180Vectors.Enc));
        byte[] dhS = P256HpkeKeyPairTestAccess.SenderDh(Hex(Rfc9180Vectors.SkEm), Hex(Rfc9180Vectors.PkRm));
        CollectionAssert.AreEqual(dhS, dhR, "both sides compute the same DH");
        byte[] shared = HpkeP256.ExtractAndExpand(dhR, Hex(Rfc9180Vectors.Enc), Hex(Rfc9180Vectors.PkRm));
        Assert.AreEqual(Rfc9180Vectors.SharedSecret, Lower(shared));
    }

    [TestMethod]
    public void Every_RFC_9180_encryption_seals_and_opens_at_its_sequence_number()
    {
        using HpkeContext sender = HpkeP256.SetupBaseSenderWith(Hex(Rfc9180Vectors.SkEm), Hex(Rfc9180Vectors.PkRm), Hex(Rfc9180Vectors.Info), out byte[] enc);
        using var recipientKey = P256HpkeKeyPair.FromPrivateKey(Hex(Rfc9180Vectors.SkRm));
        using HpkeContext recipient = HpkeP256.SetupBaseRecipient(enc, recipientKey, Hex(Rfc9180Vectors.Info));
        var expected = Rfc9180Vectors.Encryptions.ToDictionary(e => e.Sequence);
        ulong last = Rfc9180Vectors.Encryptions.Max(e => e.Sequence);
        int checkedCount = 0;
        for (ulong sequence = 0; sequence <= last; sequence++)
        {
            Assert.AreEqual(sequence, sender.SequenceNumber);
            byte[] plaintext = Hex(Rfc9180Vectors.Encryptions[0].Plaintext);
            byte[] aad = expected.TryGetValue(sequence, out var vector) ? Hex(vector.Aad) : [];
            byte[] ciphertext = sender.Seal(aad, plaintext);
            if (expected.ContainsKey(sequence))
            {
                Assert.AreEqual(vector.Ciphertext, Lower(ciphertext), $"ct at sequence {sequence}");
                checkedCount++;
            }

            Assert.IsTrue(recipient.TryOpen(aad, ciphertext, out byte[] opened), $"open at sequence {sequence}");
            CollectionAssert.AreEqual(plaintext, opened);
        }

        Assert.AreEqual(Rfc9180Vectors.Encryptions.Length, checkedCount);
    }

    [TestMethod]
    public void Every_RFC_9180_export_value_matches()
    {
        using var recipientKey = P256HpkeKeyPair.FromPrivateKey(Hex(Rfc9180Vectors.SkRm));
        using HpkeContext recipient = HpkeP256.SetupBaseRecipient(Hex(Rfc9180Vectors.Enc), recipientKey, Hex(Rfc9180Vectors.Info));
        using HpkeContext sender = HpkeP256.SetupBaseSenderWith(Hex(Rfc9180Vectors.SkEm), Hex(Rfc9180Vectors.PkRm), Hex(Rfc9180Vectors.Info), out _);
        foreach ((string context, int length, string value) in Rfc9180Vectors.Exports)
        {
            Assert.AreEqual(value, Lower(recipient.Export(Hex(context), length)), $"recipient export '{context}'");
            Assert.AreEqual(value, Lower(sender.Export(Hex(context), length)), $"sender export '{context}'");
        }
    }

    [TestMethod]
    public void A_flipped_bit_wrong_associated_data_or_wrong_info_does_not_open()
    {
        byte[] info = Hex(Rfc9180Vectors.Info);
        using var recipientKey = P256HpkeKeyPair.FromPrivateKey(Hex(Rfc9180Vectors.SkRm));
        byte[] ciphertext = Hex(Rfc9180Vectors.Encryptions[0].Ciphertext);
        byte[] aad = Hex(Rfc9180Vectors.Encryptions[0].Aad);
        for (int bit = 0; bit < ciphertext.Length * 8; bit += 37)
        {
            byte[] flipped = (byte[])ciphertext.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            using HpkeContext context = HpkeP256.SetupBaseRecipient(Hex(Rfc9180Vectors.Enc), recipientKey, info);
            Assert.IsFalse(context.TryOpen(aad, flipped, out _), $"bit {bit}");
        }

        using (HpkeContext context = HpkeP256.SetupBaseRecipient(Hex(Rfc9180Vectors.Enc), recipientKey, info))
        {
            Assert.IsFalse(context.TryOpen([.. aad, 0], ciphertext, out _), "associated data");
            Assert.IsFalse(context.TryOpen(aad, ciphertext[..^1], out _), "truncated");
            Assert.AreEqual(0UL, context.SequenceNumber, "a failed open does not advance the sequence");
            Assert.IsTrue(context.TryOpen(aad, ciphertext, out _), "the genuine ciphertext still opens");
        }

        using (HpkeContext context = HpkeP256.SetupBaseRecipient(Hex(Rfc9180Vectors.Enc), recipientKey, [.. info, 0x21]))
        {
            Assert.IsFalse(context.TryOpen(aad, ciphertext, out _), "info");
        }
    }

    [TestMethod]
    public void An_encapsulated_key_that_is_not_a_point_is_a_format_error_naming_enc()
    {
        using var recipientKey = P256HpkeKeyPair.FromPrivateKey(Hex(Rfc9180Vectors.SkRm));
        byte[] offCurve = Hex(Rfc9180Vectors.Enc);
        offCurve[^1] ^= 1;
        byte[] compressed = [0x02, .. Hex(Rfc9180Vectors.Enc).AsSpan(1, 32)];
        foreach (byte[] bad in new[] { offCurve, compressed, [], new byte[65] })
        {
            var error = Assert.ThrowsExactly<CryptoFormatException>(() => HpkeP256.SetupBaseRecipient(bad, recipientKey, []));
            Assert.AreEqual("enc", error.ParamName);
        }
    }
}
