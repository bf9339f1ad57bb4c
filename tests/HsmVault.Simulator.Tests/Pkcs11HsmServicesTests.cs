using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator.Tests;

[TestClass]
public sealed class Pkcs11HsmServicesTests
{
    private static Pkcs11HsmServices? s_hsm;

    private static Pkcs11HsmServices Hsm => s_hsm ?? throw new InvalidOperationException("Class initialisation did not run.");

    [ClassInitialize]
    public static void OpenToken(TestContext context) =>
        s_hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("services"));

    [ClassCleanup]
    public static void CloseToken() => s_hsm?.Dispose();

    [TestMethod]
    public void Public_keys_are_distinct_compressed_P256_points() =>
        HsmServicesConformance.AssertPublicKeysAreCompressedPoints(Hsm);

    [TestMethod]
    public void GetRandom_fills_the_buffer_with_fresh_bytes()
    {
        byte[] first = new byte[48];
        byte[] second = new byte[48];
        Hsm.GetRandom(first);
        Hsm.GetRandom(second);
        CollectionAssert.AreNotEqual(first, second);
        Assert.IsTrue(first.Any(b => b != 0));
        Hsm.GetRandom([]);
    }

    [TestMethod]
    public void Seal_then_unseal_returns_the_plaintext() => HsmServicesConformance.AssertSealRoundTrips(Hsm);

    [TestMethod]
    public void Sealing_twice_uses_fresh_nonces()
    {
        byte[] first = Hsm.Seal("same"u8, "aad"u8);
        byte[] second = Hsm.Seal("same"u8, "aad"u8);
        CollectionAssert.AreNotEqual(first[1..13], second[1..13], "fresh derivation halves: a key per seal");
        CollectionAssert.AreNotEqual(first[13..25], second[13..25], "fresh GCM halves");
        CollectionAssert.AreNotEqual(first, second);
    }

    [TestMethod]
    public void Unseal_returns_false_for_any_altered_byte_associated_data_or_length() =>
        HsmServicesConformance.AssertAnyAlterationIsRejected(Hsm);

    [TestMethod]
    public void Hmac_keys_differ_by_role_and_are_deterministic() => HsmServicesConformance.AssertHmacKeysAreDistinct(Hsm);

    [TestMethod]
    public void Sign_verifies_with_the_identity_public_key() => HsmServicesConformance.AssertSignatureVerifies(Hsm);

    [TestMethod]
    public void Channel_diffie_hellman_is_the_HPKE_shared_x_coordinate() =>
        HsmServicesConformance.AssertChannelDiffieHellmanIsTheSharedX(Hsm, iterations: 10);

    [TestMethod]
    public void AkeDiffieHellman_returns_the_full_product_point_including_the_y_sign() =>
        HsmServicesConformance.AssertDiffieHellmanIsTheFullProduct(Hsm, iterations: 40);

    [TestMethod]
    public void AkeDiffieHellman_handles_the_generator_and_its_negation() =>
        HsmServicesConformance.AssertDiffieHellmanHandlesTheGenerator(Hsm);

    [TestMethod]
    public void AkeDiffieHellman_rejects_invalid_points_naming_the_parameter() =>
        HsmServicesConformance.AssertInvalidPeerPointsAreRejected(Hsm);

    [TestMethod]
    public void Calls_after_dispose_throw_ObjectDisposedException()
    {
        var hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("disposed"));
        hsm.Dispose();
        hsm.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => hsm.Seal("x"u8, []));
        Assert.ThrowsExactly<ObjectDisposedException>(() => hsm.ReadNvram());
    }

    [TestMethod]
    public void Concurrent_callers_are_serialised_on_the_one_session()
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, i =>
        {
            for (int j = 0; j < 20; j++)
            {
                byte[] plaintext = BitConverter.GetBytes(i * 1000 + j);
                if (!Hsm.TryUnseal(Hsm.Seal(plaintext, []), [], out byte[] opened) || !opened.AsSpan().SequenceEqual(plaintext))
                {
                    failures.Add($"{i}/{j}");
                }
            }
        });
        Assert.IsEmpty(failures);
    }
}
