using HsmVault.Enclave;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests;

/// <summary>What an operator holding the token PIN can do to the vault's keys: nothing that reveals them.</summary>
[TestClass]
public sealed class Pkcs11KeyProtectionTests
{
    private static Pkcs11Options? s_options;
    private static Pkcs11HsmServices? s_hsm;

    private static Pkcs11Options Options => s_options ?? throw new InvalidOperationException("Class initialisation did not run.");

    [ClassInitialize]
    public static void ProvisionToken(TestContext context)
    {
        s_options = SoftHsmSandbox.ForThisProcess.NewKeySet("protection");
        s_hsm = Pkcs11HsmServices.OpenOrProvision(s_options);
    }

    [ClassCleanup]
    public static void CloseToken() => s_hsm?.Dispose();

    /// <summary>Label suffixes after the key set's prefix: the data rows stay the same whatever prefix the sandbox picks.</summary>
    public static IEnumerable<object[]> SecretAndPrivateKeys()
    {
        yield return [CKO.CKO_SECRET_KEY, "record-key"];
        yield return [CKO.CKO_SECRET_KEY, "hmac-oprf-seed"];
        yield return [CKO.CKO_SECRET_KEY, "hmac-log-mac"];
        yield return [CKO.CKO_SECRET_KEY, "hmac-fake-record-seed"];
        yield return [CKO.CKO_PRIVATE_KEY, "identity-key"];
        yield return [CKO.CKO_PRIVATE_KEY, "ake-key"];
        yield return [CKO.CKO_PRIVATE_KEY, "channel-key"];
    }

    [TestMethod]
    public void Every_key_of_the_key_set_is_listed_here()
    {
        var labels = SecretAndPrivateKeys().Select(row => "p-" + (string)row[1]).ToHashSet();
        var keySet = Pkcs11KeySet.For(new Pkcs11KeyLabels("p"));
        foreach (Pkcs11KeySpec key in keySet)
        {
            Assert.Contains(key.Label, labels);
        }

        Assert.HasCount(labels.Count, keySet);
        foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
        {
            Assert.Contains(new Pkcs11KeyLabels("p").Hmac(role), labels);
        }
    }

    [TestMethod]
    [DynamicData(nameof(SecretAndPrivateKeys))]
    public void Key_is_a_sensitive_token_object_that_was_never_extractable(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        AssertSensitiveTokenObjectNeverExtractable(inspector, inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}"));
    }

    [TestMethod]
    [DynamicData(nameof(SecretAndPrivateKeys))]
    public void Reading_the_key_value_is_refused(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        AssertValueCannotBeRead(inspector, inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}"));
    }

    [TestMethod]
    [DynamicData(nameof(SecretAndPrivateKeys))]
    public void Wrapping_the_key_out_of_the_token_is_refused(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        AssertCannotBeWrapped(inspector, inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}"));
    }

    /// <summary>A private, sensitive token object that was generated inside the token and never extractable.</summary>
    internal static void AssertSensitiveTokenObjectNeverExtractable(TokenInspector inspector, IObjectHandle key)
    {
        Assert.IsTrue(inspector.Read(key, CKA.CKA_TOKEN).GetValueAsBool(), "CKA_TOKEN");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_PRIVATE).GetValueAsBool(), "CKA_PRIVATE");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_SENSITIVE).GetValueAsBool(), "CKA_SENSITIVE");
        Assert.IsFalse(inspector.Read(key, CKA.CKA_EXTRACTABLE).GetValueAsBool(), "CKA_EXTRACTABLE");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_ALWAYS_SENSITIVE).GetValueAsBool(), "CKA_ALWAYS_SENSITIVE");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_NEVER_EXTRACTABLE).GetValueAsBool(), "CKA_NEVER_EXTRACTABLE");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_LOCAL).GetValueAsBool(), "CKA_LOCAL: generated inside the token");
    }

    /// <summary>C_GetAttributeValue refuses CKA_VALUE as sensitive.</summary>
    internal static void AssertValueCannotBeRead(TokenInspector inspector, IObjectHandle key)
    {
        Assert.AreEqual(CKR.CKR_ATTRIBUTE_SENSITIVE, inspector.GetAttributeReturnValue(key, CKA.CKA_VALUE));
        IObjectAttribute value = inspector.Read(key, CKA.CKA_VALUE);
        Assert.IsTrue(value.CannotBeRead);
        Assert.ThrowsExactly<AttributeValueException>(() => value.GetValueAsByteArray());
    }

    /// <summary>C_WrapKey under a fresh wrapping key of the inspector's own is refused as unextractable.</summary>
    internal static void AssertCannotBeWrapped(TokenInspector inspector, IObjectHandle key)
    {
        using IMechanism keyGeneration = inspector.Mechanisms.Create(CKM.CKM_AES_KEY_GEN);
        IObjectHandle wrappingKey = inspector.Session.GenerateKey(keyGeneration,
        [
            inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            inspector.Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
            inspector.Attributes.Create(CKA.CKA_VALUE_LEN, 32UL),
            inspector.Attributes.Create(CKA.CKA_TOKEN, false),
            inspector.Attributes.Create(CKA.CKA_WRAP, true),
        ]);
        try
        {
            using IMechanism wrap = inspector.Mechanisms.Create(CKM.CKM_AES_KEY_WRAP_PAD);
            Pkcs11Exception ex = Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.WrapKey(wrap, wrappingKey, key));
            Assert.AreEqual(CKR.CKR_KEY_UNEXTRACTABLE, ex.RV);
        }
        finally
        {
            inspector.Session.DestroyObject(wrappingKey);
        }
    }

    [TestMethod]
    [DynamicData(nameof(SecretAndPrivateKeys))]
    public void Protection_attributes_cannot_be_relaxed(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        IObjectHandle key = inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}");
        Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.SetAttributeValue(key, [inspector.Attributes.Create(CKA.CKA_EXTRACTABLE, true)]));
        Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.SetAttributeValue(key, [inspector.Attributes.Create(CKA.CKA_SENSITIVE, false)]));
        Assert.IsTrue(inspector.Read(key, CKA.CKA_SENSITIVE).GetValueAsBool());
        Assert.IsFalse(inspector.Read(key, CKA.CKA_EXTRACTABLE).GetValueAsBool());
    }

    [TestMethod]
    public void Each_key_is_limited_to_its_own_use()
    {
        using var inspector = new TokenInspector(Options);
        IObjectHandle identity = inspector.FindSingle(CKO.CKO_PRIVATE_KEY, $"{Options.KeyLabelPrefix}-identity-key");
        IObjectHandle ake = inspector.FindSingle(CKO.CKO_PRIVATE_KEY, $"{Options.KeyLabelPrefix}-ake-key");
        IObjectHandle recordKey = inspector.FindSingle(CKO.CKO_SECRET_KEY, $"{Options.KeyLabelPrefix}-record-key");
        IObjectHandle logMac = inspector.FindSingle(CKO.CKO_SECRET_KEY, $"{Options.KeyLabelPrefix}-hmac-log-mac");
        IObjectHandle channel = inspector.FindSingle(CKO.CKO_PRIVATE_KEY, $"{Options.KeyLabelPrefix}-channel-key");
        Assert.IsFalse(inspector.Read(channel, CKA.CKA_SIGN).GetValueAsBool(), "channel key cannot sign");
        Assert.IsTrue(inspector.Read(channel, CKA.CKA_DERIVE).GetValueAsBool(), "channel key derives (ECDH) only");
        Assert.IsFalse(inspector.Read(identity, CKA.CKA_DERIVE).GetValueAsBool(), "identity key cannot derive");
        Assert.IsFalse(inspector.Read(ake, CKA.CKA_SIGN).GetValueAsBool(), "AKE key cannot sign");
        Assert.IsFalse(inspector.Read(recordKey, CKA.CKA_WRAP).GetValueAsBool(), "record key cannot wrap other keys out");
        Assert.IsTrue(inspector.Read(recordKey, CKA.CKA_DERIVE).GetValueAsBool(), "record key derives the per-seal XAES-256-GCM keys");
        Assert.IsFalse(inspector.Read(recordKey, CKA.CKA_ENCRYPT).GetValueAsBool(), "record key encrypts nothing itself");
        Assert.IsFalse(inspector.Read(recordKey, CKA.CKA_DECRYPT).GetValueAsBool(), "record key decrypts nothing itself");
        Assert.IsFalse(inspector.Read(logMac, CKA.CKA_DERIVE).GetValueAsBool(), "HMAC keys cannot derive readable keys");
        Assert.IsFalse(inspector.Read(logMac, CKA.CKA_ENCRYPT).GetValueAsBool(), "HMAC keys do not encrypt");

        using IMechanism ecdsa = inspector.Mechanisms.Create(CKM.CKM_ECDSA);
        Pkcs11Exception ex = Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.Sign(ecdsa, ake, new byte[32]));
        Assert.AreEqual(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED, ex.RV);
    }

    [TestMethod]
    public void Open_refuses_a_record_key_that_could_be_extracted()
    {
        Pkcs11Options options = Options with { KeyLabelPrefix = Options.KeyLabelPrefix + "-planted" };
        using (var inspector = new TokenInspector(options))
        {
            using IMechanism keyGeneration = inspector.Mechanisms.Create(CKM.CKM_AES_KEY_GEN);
            inspector.Session.GenerateKey(keyGeneration,
            [
                inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                inspector.Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
                inspector.Attributes.Create(CKA.CKA_VALUE_LEN, 32UL),
                inspector.Attributes.Create(CKA.CKA_TOKEN, true),
                inspector.Attributes.Create(CKA.CKA_SENSITIVE, false),
                inspector.Attributes.Create(CKA.CKA_EXTRACTABLE, true),
                inspector.Attributes.Create(CKA.CKA_ENCRYPT, true),
                inspector.Attributes.Create(CKA.CKA_DECRYPT, true),
                inspector.Attributes.Create(CKA.CKA_LABEL, $"{options.KeyLabelPrefix}-record-key"),
            ]);
        }

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options));
        Assert.Contains($"{options.KeyLabelPrefix}-record-key", ex.Message);
        Assert.Contains("CKA_EXTRACTABLE=false", ex.Message);
    }

    [TestMethod]
    public void Open_refuses_a_fleet_key_that_is_extractable_without_wrap_with_trusted()
    {
        Pkcs11Options options = Options with { KeyLabelPrefix = Options.KeyLabelPrefix + "-untrusted-wrap" };
        using (var inspector = new TokenInspector(options))
        {
            using IMechanism keyGeneration = inspector.Mechanisms.Create(CKM.CKM_GENERIC_SECRET_KEY_GEN);
            inspector.Session.GenerateKey(keyGeneration,
            [
                inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                inspector.Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_GENERIC_SECRET),
                inspector.Attributes.Create(CKA.CKA_VALUE_LEN, 32UL),
                inspector.Attributes.Create(CKA.CKA_TOKEN, true),
                inspector.Attributes.Create(CKA.CKA_SENSITIVE, true),
                inspector.Attributes.Create(CKA.CKA_EXTRACTABLE, true),
                inspector.Attributes.Create(CKA.CKA_SIGN, true),
                inspector.Attributes.Create(CKA.CKA_LABEL, $"{options.KeyLabelPrefix}-hmac-oprf-seed"),
            ]);
        }

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options));
        Assert.Contains($"{options.KeyLabelPrefix}-hmac-oprf-seed", ex.Message);
        Assert.Contains("CKA_EXTRACTABLE=true only with CKA_WRAP_WITH_TRUSTED=true", ex.Message);
    }

    [TestMethod]
    public void Open_refuses_an_identity_key_that_is_extractable_even_only_under_trusted_keys()
    {
        Pkcs11Options options = Options with { KeyLabelPrefix = Options.KeyLabelPrefix + "-wrappable-identity" };
        using (var inspector = new TokenInspector(options))
        {
            using IMechanism generation = inspector.Mechanisms.Create(CKM.CKM_EC_KEY_PAIR_GEN);
            string label = $"{options.KeyLabelPrefix}-identity-key";
            inspector.Session.GenerateKeyPair(generation,
                [
                    inspector.Attributes.Create(CKA.CKA_TOKEN, true),
                    inspector.Attributes.Create(CKA.CKA_EC_PARAMS, P256.NamedCurveParameters.ToArray()),
                    inspector.Attributes.Create(CKA.CKA_VERIFY, true),
                    inspector.Attributes.Create(CKA.CKA_LABEL, label),
                ],
                [
                    inspector.Attributes.Create(CKA.CKA_TOKEN, true),
                    inspector.Attributes.Create(CKA.CKA_PRIVATE, true),
                    inspector.Attributes.Create(CKA.CKA_SENSITIVE, true),
                    inspector.Attributes.Create(CKA.CKA_EXTRACTABLE, true),
                    inspector.Attributes.Create(CKA.CKA_WRAP_WITH_TRUSTED, true),
                    inspector.Attributes.Create(CKA.CKA_SIGN, true),
                    inspector.Attributes.Create(CKA.CKA_LABEL, label),
                ],
                out _,
                out _);
        }

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options));
        Assert.Contains($"{options.KeyLabelPrefix}-identity-key", ex.Message);
        Assert.Contains("an HSM's identity key never leaves it", ex.Message);
    }
}
