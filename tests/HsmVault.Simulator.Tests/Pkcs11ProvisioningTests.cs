using HsmVault.Enclave;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Tests;

/// <summary>A provisioning run that fails midway leaves nothing behind; tokens initialised beforehand and short PINs work.</summary>
[TestClass]
public sealed class Pkcs11ProvisioningTests
{
    [TestMethod]
    [DataRow("hmac-log-mac", 2, DisplayName = "fails at the third secret key")]
    [DataRow("ake-key", 5, DisplayName = "fails at the second key pair")]
    public void A_failure_midway_destroys_every_object_the_run_generated(string failingKey, int keysBefore)
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("rollback");
        string failingLabel = $"{options.KeyLabelPrefix}-{failingKey}";
        var generated = new List<string>();
        var hooks = new Pkcs11Hooks
        {
            BeforeKeyGenerated = label =>
            {
                if (label == failingLabel)
                {
                    throw new Pkcs11Exception("C_GenerateKey", CKR.CKR_DEVICE_MEMORY);
                }

                generated.Add(label);
            },
        };

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options, hooks));

        Assert.HasCount(keysBefore, generated, "the keys before the failing one were generated");
        Assert.Contains(failingLabel, ex.Message);
        Assert.Contains(nameof(CKR.CKR_DEVICE_MEMORY), ex.Message);
        Assert.Contains("rolled back", ex.Message);
        using var inspector = new TokenInspector(options);
        Assert.IsEmpty(inspector.LabelsStartingWith(options.KeyLabelPrefix + "-"), "no key, key pair half or NVRAM object is left");

        // And the token is as good as new: a clean run provisions the full set.
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options);
        HsmServicesConformance.AssertSealRoundTrips(hsm);
        var keySet = Pkcs11KeySet.For(new Pkcs11KeyLabels(options.KeyLabelPrefix));
        int keyPairs = keySet.Count(key => key.Kind is Pkcs11KeyKind.SigningKeyPair or Pkcs11KeyKind.DerivationKeyPair);
        Assert.AreEqual(3, keyPairs, "identity, AKE and channel key pairs");
        Assert.HasCount(keySet.Count + keyPairs, inspector.LabelsStartingWith(options.KeyLabelPrefix + "-"),
            "each key once, and both halves of each key pair");
    }

    [TestMethod]
    public void A_failed_run_keeps_the_keys_an_earlier_run_made()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("rollback-keep");
        byte[] identity;
        using (var first = Pkcs11HsmServices.OpenOrProvision(options))
        {
            identity = first.IdentityPublicKey;
        }

        // Delete one key, then fail the run that would regenerate it: only that run's objects may go.
        using var inspector = new TokenInspector(options);
        inspector.Session.DestroyObject(inspector.FindSingle(CKO.CKO_SECRET_KEY, $"{options.KeyLabelPrefix}-hmac-log-mac"));
        var hooks = new Pkcs11Hooks { BeforeKeyGenerated = _ => throw new Pkcs11Exception("C_GenerateKey", CKR.CKR_DEVICE_ERROR) };
        Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options, hooks));

        Assert.HasCount(1, inspector.Find(CKO.CKO_SECRET_KEY, $"{options.KeyLabelPrefix}-record-key"));
        Assert.HasCount(1, inspector.Find(CKO.CKO_PRIVATE_KEY, $"{options.KeyLabelPrefix}-identity-key"));
        using var again = Pkcs11HsmServices.OpenOrProvision(options);
        CollectionAssert.AreEqual(identity, again.IdentityPublicKey);
    }

    [TestMethod]
    public void A_pin_the_token_would_refuse_is_named_before_the_token_is_initialised()
    {
        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(
            () => SoftHsmSandbox.ForThisProcess.CreateToken("pin-too-short", "so-pin-8", "abc"));
        Assert.Contains("user PIN is 3 bytes", ex.Message);
        Assert.Contains("accepts 4 to", ex.Message);
        Assert.DoesNotContain("abc", ex.Message);
    }

    [TestMethod]
    public void Key_sets_share_one_token_initialised_once()
    {
        Pkcs11Options first = SoftHsmSandbox.ForThisProcess.NewKeySet("shared-a");
        Pkcs11Options second = SoftHsmSandbox.ForThisProcess.NewKeySet("shared-b");
        Assert.AreEqual(first.TokenLabel, second.TokenLabel, "no C_InitToken per test");
        Assert.AreNotEqual(first.KeyLabelPrefix, second.KeyLabelPrefix);
    }

    [TestMethod]
    [DataRow("so12", "1234", DisplayName = "4-character PINs, SoftHSM2's minimum")]
    [DataRow("so-pin-8", "12345678", DisplayName = "8-character PINs, some vendors' maximum")]
    public void Provisioning_works_with_short_pins(string securityOfficerPin, string userPin)
    {
        Assert.IsLessThanOrEqualTo(8, SoftHsmSandbox.UserPin.Length, "the sandbox's own PINs fit an 8-character limit too");
        Assert.IsLessThanOrEqualTo(8, SoftHsmSandbox.SecurityOfficerPin.Length);
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.CreateToken("short-pin", securityOfficerPin, userPin);

        using var hsm = Pkcs11HsmServices.OpenOrProvision(options);
        HsmServicesConformance.AssertSignatureVerifies(hsm);
        Assert.HasCount(32, hsm.Hmac(HsmHmacKey.LogMac, "entry"u8));
    }
}
