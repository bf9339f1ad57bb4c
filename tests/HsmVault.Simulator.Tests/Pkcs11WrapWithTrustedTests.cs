using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// Fleet keys as the deployment ceremony leaves them (provisioned with
/// <see cref="Pkcs11FleetKeyProtection.WrapWithTrustedOnly"/>): sensitive, unreadable, and wrappable only under a
/// key the token's security officer marked CKA_TRUSTED; SoftHSM2 enforces each of these, and only the security
/// officer can make a trusted key. The identity key stays never extractable. On a token of its own: the
/// security officer logs in here, which no other session of the process may be logged in for.
/// </summary>
[TestClass]
public sealed class Pkcs11WrapWithTrustedTests
{
    private static Pkcs11Options? s_options;

    private static Pkcs11Options Options => s_options ?? throw new InvalidOperationException("Class initialisation did not run.");

    public static IEnumerable<object[]> FleetKeys() => Pkcs11KeyProtectionTests.SecretAndPrivateKeys().Where(row => (string)row[1] != "identity-key");

    [ClassInitialize]
    public static void ProvisionToken(TestContext context)
    {
        s_options = SoftHsmSandbox.ForThisProcess.CreateToken("trusted-wrap") with { FleetKeyProtection = Pkcs11FleetKeyProtection.WrapWithTrustedOnly };
        using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(s_options);
    }

    [TestMethod]
    [DynamicData(nameof(FleetKeys))]
    public void A_fleet_key_is_sensitive_unreadable_and_extractable_only_with_wrap_with_trusted(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        IObjectHandle key = inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}");
        AssertSensitiveAndWrappableOnlyUnderTrustedKeys(inspector, key);
        Assert.IsTrue(inspector.Read(key, CKA.CKA_LOCAL).GetValueAsBool(), "generated inside the token");
        Pkcs11KeyProtectionTests.AssertValueCannotBeRead(inspector, key);
    }

    [TestMethod]
    [DynamicData(nameof(FleetKeys))]
    public void An_untrusted_key_cannot_wrap_a_fleet_key(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        AssertUntrustedKeyCannotWrap(inspector, inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}"));
    }

    [TestMethod]
    [DynamicData(nameof(FleetKeys))]
    public void Wrap_with_trusted_and_sensitive_cannot_be_cleared_nor_copied_away(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options);
        AssertProtectionCannotBeRelaxed(inspector, inspector.FindSingle(objectClass, $"{Options.KeyLabelPrefix}-{label}"));
    }

    [TestMethod]
    public void The_identity_key_stays_never_extractable()
    {
        using var inspector = new TokenInspector(Options);
        IObjectHandle identity = inspector.FindSingle(CKO.CKO_PRIVATE_KEY, $"{Options.KeyLabelPrefix}-identity-key");
        Pkcs11KeyProtectionTests.AssertSensitiveTokenObjectNeverExtractable(inspector, identity);
        Pkcs11KeyProtectionTests.AssertCannotBeWrapped(inspector, identity);
    }

    [TestMethod]
    public void The_user_cannot_make_a_key_trusted()
    {
        using var inspector = new TokenInspector(Options);
        using IMechanism generation = inspector.Mechanisms.Create(CKM.CKM_AES_KEY_GEN);
        Pkcs11Exception generated = Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.GenerateKey(generation, WrappingKeyTemplate(inspector, trusted: true)));
        Assert.AreEqual(CKR.CKR_ATTRIBUTE_READ_ONLY, generated.RV, "CKA_TRUSTED=true in a user's template");
        IObjectHandle key = inspector.Session.GenerateKey(generation, WrappingKeyTemplate(inspector, trusted: false));
        try
        {
            Pkcs11Exception set = Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.SetAttributeValue(key, [inspector.Attributes.Create(CKA.CKA_TRUSTED, true)]));
            Assert.AreEqual(CKR.CKR_ATTRIBUTE_READ_ONLY, set.RV, "CKA_TRUSTED set by the user");
        }
        finally
        {
            inspector.Session.DestroyObject(key);
        }
    }

    [TestMethod]
    public void The_services_open_a_token_whose_fleet_keys_are_wrappable_only_under_trusted_keys()
    {
        using Pkcs11HsmServices hsm = Pkcs11HsmServices.Open(Options with { FleetKeyProtection = Pkcs11FleetKeyProtection.NeverExtractable });
        HsmServicesConformance.AssertSignatureVerifies(hsm);
        Assert.IsTrue(hsm.TryUnseal(hsm.Seal("x"u8, []), [], out _));
    }

    /// <summary>
    /// The control: a key the security officer marked CKA_TRUSTED does wrap a fleet key, so it is exactly
    /// CKA_TRUSTED, which only the security officer sets, that lets a fleet key leave the token.
    /// </summary>
    [TestMethod]
    public void A_key_the_security_officer_trusts_can_wrap_a_fleet_key()
    {
        Pkcs11Module module = Pkcs11Module.Acquire(Options.LibraryPath);
        try
        {
            ISlot slot = module.FindSlotByTokenLabel(Options.TokenLabel);

            // No other session of this process is open on this token, so nobody is logged in on it.
            using ISession session = slot.OpenSession(SessionType.ReadWrite);
            var attributes = module.Factories.ObjectAttributeFactory;
            session.Login(CKU.CKU_SO, SoftHsmSandbox.SecurityOfficerPin);
            using IMechanism generation = module.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
            IObjectHandle trusted = session.GenerateKey(generation,
            [
                attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
                attributes.Create(CKA.CKA_VALUE_LEN, 32UL),
                attributes.Create(CKA.CKA_TOKEN, false),
                attributes.Create(CKA.CKA_PRIVATE, false),
                attributes.Create(CKA.CKA_WRAP, true),
                attributes.Create(CKA.CKA_TRUSTED, true),
            ]);
            session.Logout();
            session.Login(CKU.CKU_USER, SoftHsmSandbox.UserPin);
            try
            {
                IObjectHandle key = session.FindAllObjects(
                    [attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), attributes.Create(CKA.CKA_LABEL, $"{Options.KeyLabelPrefix}-hmac-log-mac")]).Single();
                using IMechanism wrap = module.Factories.MechanismFactory.Create(CKM.CKM_AES_KEY_WRAP_PAD);
                Assert.HasCount(40, session.WrapKey(wrap, trusted, key), "a 32-byte key wrapped with RFC 5649 padding");
            }
            finally
            {
                session.DestroyObject(trusted);
                session.Logout();
            }
        }
        finally
        {
            module.Release();
        }
    }

    /// <summary>A private, sensitive token object that may leave the token only wrapped under a trusted key.</summary>
    internal static void AssertSensitiveAndWrappableOnlyUnderTrustedKeys(TokenInspector inspector, IObjectHandle key)
    {
        Assert.IsTrue(inspector.Read(key, CKA.CKA_TOKEN).GetValueAsBool(), "CKA_TOKEN");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_PRIVATE).GetValueAsBool(), "CKA_PRIVATE");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_SENSITIVE).GetValueAsBool(), "CKA_SENSITIVE");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_WRAP_WITH_TRUSTED).GetValueAsBool(), "CKA_WRAP_WITH_TRUSTED");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_EXTRACTABLE).GetValueAsBool(), "CKA_EXTRACTABLE, under a trusted key only");
        IObjectAttribute wrap = inspector.Read(key, CKA.CKA_WRAP);
        Assert.IsTrue(wrap.CannotBeRead || !wrap.GetValueAsBool(), "a fleet key wraps nothing (a private key has no CKA_WRAP)");
    }

    /// <summary>C_WrapKey under a fresh, untrusted wrapping key of the inspector's own is refused as not wrappable.</summary>
    internal static void AssertUntrustedKeyCannotWrap(TokenInspector inspector, IObjectHandle key)
    {
        using IMechanism generation = inspector.Mechanisms.Create(CKM.CKM_AES_KEY_GEN);
        IObjectHandle wrappingKey = inspector.Session.GenerateKey(generation, WrappingKeyTemplate(inspector, trusted: false));
        try
        {
            Assert.IsFalse(inspector.Read(wrappingKey, CKA.CKA_TRUSTED).GetValueAsBool());
            foreach (CKM mechanism in new[] { CKM.CKM_AES_KEY_WRAP_PAD, CKM.CKM_AES_KEY_WRAP })
            {
                using IMechanism wrap = inspector.Mechanisms.Create(mechanism);
                Pkcs11Exception ex = Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.WrapKey(wrap, wrappingKey, key));
                Assert.AreEqual(CKR.CKR_KEY_NOT_WRAPPABLE, ex.RV, $"{mechanism} under an untrusted key");
            }
        }
        finally
        {
            inspector.Session.DestroyObject(wrappingKey);
        }
    }

    /// <summary>CKA_WRAP_WITH_TRUSTED and CKA_SENSITIVE cannot be cleared, and a copy cannot drop them.</summary>
    internal static void AssertProtectionCannotBeRelaxed(TokenInspector inspector, IObjectHandle key)
    {
        Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.SetAttributeValue(key, [inspector.Attributes.Create(CKA.CKA_WRAP_WITH_TRUSTED, false)]));
        Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.SetAttributeValue(key, [inspector.Attributes.Create(CKA.CKA_SENSITIVE, false)]));
        Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.CopyObject(key, [inspector.Attributes.Create(CKA.CKA_WRAP_WITH_TRUSTED, false)]));
        Assert.ThrowsExactly<Pkcs11Exception>(() => inspector.Session.CopyObject(key, [inspector.Attributes.Create(CKA.CKA_SENSITIVE, false)]));
        Assert.IsTrue(inspector.Read(key, CKA.CKA_WRAP_WITH_TRUSTED).GetValueAsBool());
        Assert.IsTrue(inspector.Read(key, CKA.CKA_SENSITIVE).GetValueAsBool());
    }

    private static List<IObjectAttribute> WrappingKeyTemplate(TokenInspector inspector, bool trusted) =>
    [
        inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
        inspector.Attributes.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
        inspector.Attributes.Create(CKA.CKA_VALUE_LEN, 32UL),
        inspector.Attributes.Create(CKA.CKA_TOKEN, false),
        inspector.Attributes.Create(CKA.CKA_WRAP, true),
        .. trusted ? [inspector.Attributes.Create(CKA.CKA_TRUSTED, true)] : Array.Empty<IObjectAttribute>(),
    ];
}
