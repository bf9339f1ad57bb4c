using System.Security.Cryptography;
using System.Text;
using HsmVault.Crypto.Xaes;
using HsmVault.Enclave;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// The record cipher through SoftHSM2: XAES-256-GCM with the key derived inside the token by key handle
/// (CKM_AES_ECB_ENCRYPT_DATA) gives byte for byte what the C2SP vectors and the software reference
/// (<see cref="XaesGcm"/>, over BouncyCastle AES) give; no derived key stays on the token; the record key
/// stays sensitive, never extractable and derive-only. Where the software reference needs the key, the test
/// imports a known value as the record key (a stand-in: a provisioned record key is generated in the token).
/// </summary>
[TestClass]
public sealed class Pkcs11XaesTests
{
    // The C2SP examples (c2sp.org/XAES-256-GCM), transcribed: key byte, nonce, plaintext, associated data, ciphertext || tag.
    public static IEnumerable<object[]> C2spExamples =>
    [
        [(byte)0x01, "ABCDEFGHIJKLMNOPQRSTUVWX", "XAES-256-GCM", "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"],
        [(byte)0x03, "ABCDEFGHIJKLMNOPQRSTUVWX", "XAES-256-GCM", "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"],
    ];

    [TestMethod]
    [DynamicData(nameof(C2spExamples))]
    public void The_token_seals_the_C2SP_examples_to_the_specified_ciphertext(byte keyByte, string nonce, string plaintext, string aad, string ciphertext)
    {
        byte[] key = Enumerable.Repeat(keyByte, 32).ToArray();
        var nonces = new Queue<byte[]>(Encoding.ASCII.GetBytes(nonce).Chunk(12));
        Pkcs11Options options = WithImportedRecordKey("xaes-c2sp", key);
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options, new Pkcs11Hooks { SealRandom = _ => nonces.Dequeue() });

        byte[] sealedBytes = hsm.Seal(Encoding.ASCII.GetBytes(plaintext), Encoding.ASCII.GetBytes(aad));

        Assert.AreEqual("01" + Convert.ToHexStringLower(Encoding.ASCII.GetBytes(nonce)) + ciphertext, Convert.ToHexStringLower(sealedBytes));
        Assert.IsTrue(hsm.TryUnseal(sealedBytes, Encoding.ASCII.GetBytes(aad), out byte[] opened));
        Assert.AreEqual(plaintext, Encoding.ASCII.GetString(opened));
    }

    [TestMethod]
    public void The_token_and_the_software_reference_agree_on_random_inputs()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        byte[]? lastNonceHalf = null;
        Pkcs11Options options = WithImportedRecordKey("xaes-random", key);
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options, new Pkcs11Hooks { SealRandom = n => lastNonceHalf = RandomNumberGenerator.GetBytes(n) });
        using var reference = new XaesGcm(key);
        for (int i = 0; i < 40; i++)
        {
            byte[] plaintext = RandomNumberGenerator.GetBytes(RandomNumberGenerator.GetInt32(0, 300));
            byte[] aad = RandomNumberGenerator.GetBytes(RandomNumberGenerator.GetInt32(0, 80));

            // The token's seal, then the reference's for the nonce the token used: the same bytes.
            byte[] byToken = hsm.Seal(plaintext, aad);
            byte[] nonce = byToken[1..25];
            CollectionAssert.AreEqual(lastNonceHalf, nonce[12..], $"iteration {i}: the nonce's GCM half came from the seam");
            CollectionAssert.AreEqual(ReferenceSeal(reference, nonce, plaintext, aad), byToken, $"iteration {i}: {plaintext.Length}-byte plaintext, {aad.Length}-byte aad");

            // The reference's seal under a fresh nonce opens in the token.
            byte[] byReference = ReferenceSeal(reference, RandomNumberGenerator.GetBytes(24), plaintext, aad);
            Assert.IsTrue(hsm.TryUnseal(byReference, aad, out byte[] opened), $"iteration {i}: the token opens the reference's seal");
            CollectionAssert.AreEqual(plaintext, opened);
        }
    }

    [TestMethod]
    public void The_token_refuses_tampered_version_nonce_ciphertext_tag_and_associated_data()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        using var hsm = Pkcs11HsmServices.OpenOrProvision(WithImportedRecordKey("xaes-tamper", key));
        HsmServicesConformance.AssertAnyAlterationIsRejected(hsm);

        // A seal by another key under the same nonce and associated data does not open either.
        using var otherKey = new XaesGcm(RandomNumberGenerator.GetBytes(32));
        Assert.IsFalse(hsm.TryUnseal(ReferenceSeal(otherKey, RandomNumberGenerator.GetBytes(24), "k"u8.ToArray(), []), [], out byte[] none));
        Assert.IsEmpty(none);
    }

    [TestMethod]
    public void No_derived_key_is_left_on_the_token_and_each_is_sensitive_and_never_extractable_while_it_lives()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("xaes-objects");
        using var inspector = new TokenInspector(options);
        var during = new List<(int Count, int Added)>();
        HashSet<ulong> before = [];
        var hooks = new Pkcs11Hooks
        {
            WrapGcmEncryption = token => new Observed(token, () =>
            {
                List<IObjectHandle> now = inspector.Session.FindAllObjects([]);
                List<IObjectHandle> added = [.. now.Where(handle => !before.Contains(handle.ObjectId))];
                during.Add((now.Count, added.Count));
                foreach (IObjectHandle handle in added)
                {
                    Assert.AreEqual((ulong)CKK.CKK_AES, inspector.Read(handle, CKA.CKA_KEY_TYPE).GetValueAsUlong(), "the message key is an AES key");
                    Assert.IsFalse(inspector.Read(handle, CKA.CKA_TOKEN).GetValueAsBool(), "a session object");
                    Assert.IsTrue(inspector.Read(handle, CKA.CKA_SENSITIVE).GetValueAsBool(), "sensitive");
                    Assert.IsFalse(inspector.Read(handle, CKA.CKA_EXTRACTABLE).GetValueAsBool(), "not extractable");
                    Assert.IsFalse(inspector.Read(handle, CKA.CKA_DERIVE).GetValueAsBool(), "derives nothing further");
                    Pkcs11KeyProtectionTests.AssertValueCannotBeRead(inspector, handle);
                }
            }),
        };
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options, hooks);
        before = [.. AllObjects(inspector)];

        byte[] aad = "record:erin:v1"u8.ToArray();
        for (int i = 0; i < 25; i++)
        {
            byte[] sealedBytes = hsm.Seal(RandomNumberGenerator.GetBytes(i * 7), aad);
            Assert.IsTrue(hsm.TryUnseal(sealedBytes, aad, out _));
            byte[] tampered = (byte[])sealedBytes.Clone();
            tampered[^1] ^= 1;
            Assert.IsFalse(hsm.TryUnseal(tampered, aad, out _), "a refused unseal destroys its derived key too");
            Assert.IsFalse(hsm.TryUnseal(sealedBytes, "other"u8, out _));
        }

        // The count can see a derived key: during each seal there was exactly one more object, the message key.
        Assert.HasCount(25, during);
        Assert.IsTrue(during.All(d => d.Count == before.Count + 1 && d.Added == 1), "one message key while the GCM call runs");
        CollectionAssert.AreEquivalent(before.ToList(), AllObjects(inspector), "after 25 seals and 75 unseals the token holds the objects it held before");
    }

    [TestMethod]
    public void The_record_key_stays_sensitive_never_extractable_and_derive_only_after_sealing()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("xaes-record-key");
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options);
        for (int i = 0; i < 10; i++)
        {
            Assert.IsTrue(hsm.TryUnseal(hsm.Seal("x"u8, []), [], out _));
        }

        using var inspector = new TokenInspector(options);
        IObjectHandle recordKey = inspector.FindSingle(CKO.CKO_SECRET_KEY, $"{options.KeyLabelPrefix}-record-key");
        Pkcs11KeyProtectionTests.AssertSensitiveTokenObjectNeverExtractable(inspector, recordKey);
        Pkcs11KeyProtectionTests.AssertValueCannotBeRead(inspector, recordKey);
        Pkcs11KeyProtectionTests.AssertCannotBeWrapped(inspector, recordKey);
        Assert.IsTrue(inspector.Read(recordKey, CKA.CKA_DERIVE).GetValueAsBool(), "CKA_DERIVE");
        Assert.IsFalse(inspector.Read(recordKey, CKA.CKA_ENCRYPT).GetValueAsBool(), "CKA_ENCRYPT");
        Assert.IsFalse(inspector.Read(recordKey, CKA.CKA_DECRYPT).GetValueAsBool(), "CKA_DECRYPT");

        // The record key itself cannot run AES-GCM (or anything but derivation): no call can spend its own nonce budget.
        using var gcmParameters = inspector.MechanismParams.CreateCkGcmParams(new byte[12], 96, null, 128);
        using IMechanism gcm = inspector.Mechanisms.Create(CKM.CKM_AES_GCM, gcmParameters);
        Pkcs11Exception refused = Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.Encrypt(gcm, recordKey, new byte[16]));
        Assert.AreEqual(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED, refused.RV);
    }

    [TestMethod]
    public void A_record_key_provisioned_without_the_derive_right_is_refused_at_open()
    {
        // The template of the AES-256-GCM record key before XAES-256-GCM: encrypt and decrypt, no derive.
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("xaes-old-key");
        using (var inspector = new TokenInspector(options))
        {
            using IMechanism keyGeneration = inspector.Mechanisms.Create(CKM.CKM_AES_KEY_GEN);
            inspector.Session.GenerateKey(keyGeneration, [.. RecordKeyTemplate(inspector, options, derive: false)]);
        }

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options));
        Assert.Contains("CKA_DERIVE=false", ex.Message);
        Assert.Contains($"{options.KeyLabelPrefix}-record-key", ex.Message);
    }

    private static Pkcs11Options WithImportedRecordKey(string purpose, byte[] key)
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet(purpose);
        using var inspector = new TokenInspector(options);
        inspector.Session.CreateObject([.. RecordKeyTemplate(inspector, options, derive: true), inspector.Attributes.Create(CKA.CKA_VALUE, key)]);
        return options;
    }

    private static IEnumerable<IObjectAttribute> RecordKeyTemplate(TokenInspector inspector, Pkcs11Options options, bool derive)
    {
        yield return inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY);
        yield return inspector.Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES);
        if (!derive)
        {
            yield return inspector.Attributes.Create(CKA.CKA_VALUE_LEN, 32UL);
        }

        yield return inspector.Attributes.Create(CKA.CKA_TOKEN, true);
        yield return inspector.Attributes.Create(CKA.CKA_PRIVATE, true);
        yield return inspector.Attributes.Create(CKA.CKA_SENSITIVE, true);
        yield return inspector.Attributes.Create(CKA.CKA_EXTRACTABLE, false);
        yield return inspector.Attributes.Create(CKA.CKA_ENCRYPT, !derive);
        yield return inspector.Attributes.Create(CKA.CKA_DECRYPT, !derive);
        yield return inspector.Attributes.Create(CKA.CKA_DERIVE, derive);
        yield return inspector.Attributes.Create(CKA.CKA_LABEL, $"{options.KeyLabelPrefix}-record-key");
    }

    private static byte[] ReferenceSeal(XaesGcm reference, byte[] nonce, byte[] plaintext, byte[] aad)
    {
        byte[] output = new byte[SealedFormat.SealedLength(plaintext.Length)];
        output[0] = SealedFormat.XaesVersion;
        nonce.CopyTo(output, 1);
        reference.Encrypt(nonce, plaintext, output.AsSpan(25, plaintext.Length), output.AsSpan(25 + plaintext.Length), aad);
        return output;
    }

    private static List<ulong> AllObjects(TokenInspector inspector) => [.. inspector.Session.FindAllObjects([]).Select(handle => handle.ObjectId)];

    /// <summary>Runs a check while the token's GCM call is about to run with the derived key.</summary>
    private sealed class Observed(IAesGcmTokenEncryption inner, Action check) : IAesGcmTokenEncryption
    {
        public AesGcmTokenOutput Encrypt(byte[] iv, byte[]? associatedData, byte[] plaintext)
        {
            check();
            return inner.Encrypt(iv, associatedData, plaintext);
        }
    }
}
