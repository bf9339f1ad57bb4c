using HsmVault.Enclave;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Tests;

/// <summary>Provisioning, reopening and configuration errors. Each test uses its own key label prefix on the class's token.</summary>
[TestClass]
public sealed class Pkcs11TokenLifecycleTests
{
    private static Pkcs11Options? s_token;

    public TestContext TestContext { get; set; } = null!;

    private Pkcs11Options Token => s_token ?? throw new InvalidOperationException("Class initialisation did not run.");

    private Pkcs11Options Options => Token with { KeyLabelPrefix = $"{Token.KeyLabelPrefix}-{TestContext.TestName}" };

    [ClassInitialize]
    public static void CreateKeySet(TestContext context) => s_token = SoftHsmSandbox.ForThisProcess.NewKeySet("lifecycle");

    [TestMethod]
    public void Reopening_finds_the_keys_by_label_and_they_behave_the_same()
    {
        byte[] identity, ake, mac, sealedData, dh;
        byte[] peer = HsmServicesConformance.Compress(HsmServicesConformance.Curve.G.Multiply(HsmServicesConformance.RandomScalar()));
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(Options))
        {
            identity = hsm.IdentityPublicKey;
            ake = hsm.AkePublicKey;
            mac = hsm.Hmac(HsmHmacKey.LogMac, "entry"u8);
            sealedData = hsm.Seal("record"u8, "aad"u8);
            dh = hsm.AkeDiffieHellman(peer);
        }

        using var reopened = Pkcs11HsmServices.Open(Options);
        CollectionAssert.AreEqual(identity, reopened.IdentityPublicKey);
        CollectionAssert.AreEqual(ake, reopened.AkePublicKey);
        CollectionAssert.AreEqual(mac, reopened.Hmac(HsmHmacKey.LogMac, "entry"u8));
        CollectionAssert.AreEqual(dh, reopened.AkeDiffieHellman(peer));
        Assert.IsTrue(reopened.TryUnseal(sealedData, "aad"u8, out byte[] plaintext));
        CollectionAssert.AreEqual("record"u8.ToArray(), plaintext);
        HsmServicesConformance.AssertSignatureVerifies(reopened);
    }

    [TestMethod]
    public void Provisioning_an_already_provisioned_token_keeps_its_keys()
    {
        byte[] identity;
        using (var first = Pkcs11HsmServices.OpenOrProvision(Options))
        {
            identity = first.IdentityPublicKey;
        }

        using var second = Pkcs11HsmServices.OpenOrProvision(Options);
        CollectionAssert.AreEqual(identity, second.IdentityPublicKey);
        using var inspector = new TokenInspector(Options);
        Assert.HasCount(1, inspector.Find(CKO.CKO_PRIVATE_KEY, $"{Options.KeyLabelPrefix}-identity-key"));
        Assert.HasCount(1, inspector.Find(CKO.CKO_SECRET_KEY, $"{Options.KeyLabelPrefix}-record-key"));
    }

    [TestMethod]
    public void Key_sets_under_different_prefixes_are_independent()
    {
        using var first = Pkcs11HsmServices.OpenOrProvision(Options with { KeyLabelPrefix = Options.KeyLabelPrefix + "-fleet-a" });
        using var second = Pkcs11HsmServices.OpenOrProvision(Options with { KeyLabelPrefix = Options.KeyLabelPrefix + "-fleet-b" });
        CollectionAssert.AreNotEqual(first.IdentityPublicKey, second.IdentityPublicKey);
        CollectionAssert.AreNotEqual(first.Hmac(HsmHmacKey.OprfSeed, "u"u8), second.Hmac(HsmHmacKey.OprfSeed, "u"u8));
        Assert.IsFalse(second.TryUnseal(first.Seal("secret"u8, []), [], out _), "another record key cannot open it");
    }

    [TestMethod]
    public void Two_services_on_one_token_share_the_login_and_survive_each_other()
    {
        var first = Pkcs11HsmServices.OpenOrProvision(Options);
        using var second = Pkcs11HsmServices.Open(Options);
        byte[] sealedData = first.Seal("shared"u8, []);
        first.Dispose();
        Assert.IsTrue(second.TryUnseal(sealedData, [], out byte[] plaintext), "closing one session must not log the other out");
        CollectionAssert.AreEqual("shared"u8.ToArray(), plaintext);
    }

    [TestMethod]
    public void Open_without_provisioning_names_the_missing_key()
    {
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.Open(Options));
        Assert.Contains($"{Options.KeyLabelPrefix}-record-key", ex.Message);
    }

    [TestMethod]
    public void An_unknown_token_label_is_a_configuration_error()
    {
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(
            () => Pkcs11HsmServices.OpenOrProvision(Options with { TokenLabel = "no-such-token" }));
        Assert.Contains("no-such-token", ex.Message);
    }

    [TestMethod]
    public void A_missing_library_is_a_configuration_error()
    {
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(
            () => Pkcs11HsmServices.OpenOrProvision(Options with { LibraryPath = "/nonexistent/libpkcs11.so" }));
        Assert.Contains("/nonexistent/libpkcs11.so", ex.Message);
    }

    [TestMethod]
    public void A_wrong_pin_is_a_configuration_error_that_does_not_echo_the_pin()
    {
        // A token of its own: a PIN is only checked when no session of this process is logged in yet.
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.CreateToken("wrong-pin") with { Pin = Pkcs11PinSource.Literal("not-the-pin-4711") };
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options));
        Assert.Contains(nameof(CKR.CKR_PIN_INCORRECT), ex.Message);
        Assert.DoesNotContain("not-the-pin-4711", ex.Message);
    }

    [TestMethod]
    public void The_pin_can_come_from_an_environment_variable_or_a_file()
    {
        string variable = $"HSMVAULT_TEST_PIN_{Environment.ProcessId}";
        Environment.SetEnvironmentVariable(variable, SoftHsmSandbox.PinOf(Token));
        string file = Path.GetTempFileName();
        File.WriteAllText(file, SoftHsmSandbox.PinOf(Token) + "\n");
        try
        {
            using (var fromVariable = Pkcs11HsmServices.OpenOrProvision(Options with { Pin = Pkcs11PinSource.EnvironmentVariable(variable) }))
            {
                Assert.HasCount(33, fromVariable.AkePublicKey);
            }

            using var fromFile = Pkcs11HsmServices.Open(Options with { Pin = Pkcs11PinSource.File(file) });
            Assert.HasCount(33, fromFile.AkePublicKey);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
            File.Delete(file);
        }
    }

    [TestMethod]
    public void A_missing_pin_variable_is_named_in_the_error()
    {
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(
            () => Pkcs11HsmServices.OpenOrProvision(Options with { Pin = Pkcs11PinSource.EnvironmentVariable("HSMVAULT_TEST_UNSET_PIN_VARIABLE") }));
        Assert.Contains("HSMVAULT_TEST_UNSET_PIN_VARIABLE", ex.Message);
    }

    [TestMethod]
    public void Options_and_pin_sources_never_print_a_literal_pin()
    {
        Assert.DoesNotContain(SoftHsmSandbox.UserPin, Token.ToString());
        Assert.DoesNotContain(SoftHsmSandbox.UserPin, Token.Pin.ToString());
    }
}
