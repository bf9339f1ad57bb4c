using HsmVault.Enclave;

namespace HsmVault.Simulator.Tests;

[TestClass]
public sealed class InMemoryHsmServicesTests
{
    [TestMethod]
    public void Same_seed_and_same_calls_give_byte_identical_outputs()
    {
        CollectionAssert.AreEqual(Transcript(new InMemoryHsmServices(7)), Transcript(new InMemoryHsmServices(7)));
    }

    [TestMethod]
    public void Different_seeds_give_different_keys_and_randomness()
    {
        List<string> first = Transcript(new InMemoryHsmServices(7));
        List<string> second = Transcript(new InMemoryHsmServices(8));
        Assert.HasCount(first.Count, second);
        for (int i = 0; i < first.Count; i++)
        {
            Assert.AreNotEqual(first[i], second[i], $"transcript line {i}");
        }
    }

    [TestMethod]
    public void Seal_then_unseal_returns_the_plaintext() => HsmServicesConformance.AssertSealRoundTrips(new InMemoryHsmServices(1));

    [TestMethod]
    public void Unseal_returns_false_for_any_altered_byte_associated_data_or_length() =>
        HsmServicesConformance.AssertAnyAlterationIsRejected(new InMemoryHsmServices(2));

    [TestMethod]
    public void Data_sealed_under_another_seed_does_not_unseal()
    {
        byte[] sealedData = new InMemoryHsmServices(3).Seal("secret"u8, []);
        Assert.IsFalse(new InMemoryHsmServices(4).TryUnseal(sealedData, [], out _));
        Assert.IsTrue(new InMemoryHsmServices(3).TryUnseal(sealedData, [], out _));
    }

    [TestMethod]
    public void Hmac_keys_differ_by_role_and_are_deterministic() => HsmServicesConformance.AssertHmacKeysAreDistinct(new InMemoryHsmServices(5));

    [TestMethod]
    public void Public_keys_are_distinct_compressed_P256_points() =>
        HsmServicesConformance.AssertPublicKeysAreCompressedPoints(new InMemoryHsmServices(6));

    [TestMethod]
    public void Sign_verifies_and_is_deterministic_per_message()
    {
        var hsm = new InMemoryHsmServices(9);
        HsmServicesConformance.AssertSignatureVerifies(hsm);
        CollectionAssert.AreEqual(hsm.Sign("m"u8), hsm.Sign("m"u8), "RFC 6979 nonces depend only on key and message");
        CollectionAssert.AreNotEqual(hsm.Sign("m"u8), hsm.Sign("n"u8));
    }

    [TestMethod]
    public void Channel_diffie_hellman_is_the_HPKE_shared_x_coordinate() =>
        HsmServicesConformance.AssertChannelDiffieHellmanIsTheSharedX(new InMemoryHsmServices(10), iterations: 10);

    [TestMethod]
    public void AkeDiffieHellman_returns_the_full_product_point_including_the_y_sign() =>
        HsmServicesConformance.AssertDiffieHellmanIsTheFullProduct(new InMemoryHsmServices(10), iterations: 40);

    [TestMethod]
    public void AkeDiffieHellman_handles_the_generator_and_its_negation() =>
        HsmServicesConformance.AssertDiffieHellmanHandlesTheGenerator(new InMemoryHsmServices(11));

    [TestMethod]
    public void AkeDiffieHellman_rejects_invalid_points_naming_the_parameter() =>
        HsmServicesConformance.AssertInvalidPeerPointsAreRejected(new InMemoryHsmServices(12));

    [TestMethod]
    public void Nvram_starts_empty_keeps_the_last_write_and_enforces_capacity()
    {
        var hsm = new InMemoryHsmServices(13);
        Assert.IsEmpty(hsm.ReadNvram());
        Assert.AreEqual(4096, hsm.NvramCapacity);
        hsm.WriteNvram(new byte[4096]);
        hsm.WriteNvram("latest"u8);
        CollectionAssert.AreEqual("latest"u8.ToArray(), hsm.ReadNvram());
        ArgumentException ex = Assert.ThrowsExactly<ArgumentException>(() => hsm.WriteNvram(new byte[4097]));
        Assert.AreEqual("content", ex.ParamName);
        CollectionAssert.AreEqual("latest"u8.ToArray(), hsm.ReadNvram());
    }

    [TestMethod]
    public void A_restart_over_the_same_nvram_keeps_content_and_keys_but_not_the_random_stream()
    {
        var nvram = new InMemoryNvram();
        var before = new InMemoryHsmServices(14, nvram);
        before.WriteNvram("index 5"u8);
        byte[] sealedBefore = before.Seal("record"u8, []);

        var after = new InMemoryHsmServices(14, nvram);
        Assert.AreEqual(2UL, nvram.Boots);
        CollectionAssert.AreEqual("index 5"u8.ToArray(), after.ReadNvram());
        CollectionAssert.AreEqual(before.AkePublicKey, after.AkePublicKey);
        Assert.IsTrue(after.TryUnseal(sealedBefore, [], out _));
        byte[] sealedAfter = after.Seal("record"u8, []);
        CollectionAssert.AreNotEqual(sealedBefore[1..25], sealedAfter[1..25], "a restarted HSM must not reuse nonces");
    }

    [TestMethod]
    public void A_restart_is_itself_deterministic()
    {
        static byte[] Run()
        {
            var nvram = new InMemoryNvram();
            _ = new InMemoryHsmServices(15, nvram).Seal("x"u8, []);
            return new InMemoryHsmServices(15, nvram).Seal("x"u8, []);
        }

        CollectionAssert.AreEqual(Run(), Run());
    }

    [TestMethod]
    public void GetRandom_gives_fresh_random_looking_bytes_on_each_call()
    {
        var hsm = new InMemoryHsmServices(16);
        byte[] large = new byte[100];
        hsm.GetRandom(large);
        Assert.IsTrue(large.Distinct().Count() > 40, "output looks random");
        byte[] next = new byte[100];
        hsm.GetRandom(next);
        CollectionAssert.AreNotEqual(large, next);
    }

    private static List<string> Transcript(IHsmServices hsm)
    {
        byte[] random = new byte[40];
        hsm.GetRandom(random);
        byte[] peer = HsmServicesConformance.Compress(HsmServicesConformance.Curve.G.Multiply(Org.BouncyCastle.Math.BigInteger.ValueOf(12345)));
        return
        [
            Convert.ToHexString(random),
            Convert.ToHexString(hsm.IdentityPublicKey),
            Convert.ToHexString(hsm.AkePublicKey),
            Convert.ToHexString(hsm.Seal("plaintext"u8, "aad"u8)),
            Convert.ToHexString(hsm.Hmac(HsmHmacKey.OprfSeed, "data"u8)),
            Convert.ToHexString(hsm.Hmac(HsmHmacKey.LogMac, "data"u8)),
            Convert.ToHexString(hsm.Hmac(HsmHmacKey.FakeRecordSeed, "data"u8)),
            Convert.ToHexString(hsm.Sign("message"u8)),
            Convert.ToHexString(hsm.AkeDiffieHellman(peer)),
        ];
    }
}
