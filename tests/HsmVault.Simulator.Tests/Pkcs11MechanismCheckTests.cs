using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Tests;

/// <summary>The mechanism check that runs before anything is created on a token.</summary>
[TestClass]
public sealed class Pkcs11MechanismCheckTests
{
    private static readonly Pkcs11MechanismUse All =
        Pkcs11MechanismUse.Encrypt | Pkcs11MechanismUse.Decrypt | Pkcs11MechanismUse.Sign
        | Pkcs11MechanismUse.Generate | Pkcs11MechanismUse.GenerateKeyPair | Pkcs11MechanismUse.Derive;

    [TestMethod]
    public void Softhsm2_offers_everything_the_services_need()
    {
        using var inspector = new TokenInspector(SoftHsmSandbox.ForThisProcess.SharedToken);
        Pkcs11MechanismCheck.Require(inspector.Slot, "sandbox");
    }

    [TestMethod]
    public void Every_missing_mechanism_is_listed_in_one_message()
    {
        var offered = Pkcs11MechanismCheck.ServiceRequirements
            .Where(r => r.Mechanism is not (CKM.CKM_AES_GCM or CKM.CKM_EC_KEY_PAIR_GEN or CKM.CKM_ECDH1_DERIVE))
            .ToDictionary(r => r.Mechanism, _ => new Pkcs11MechanismSupport(All, 0, 0));

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11MechanismCheck.Require(
            "vendor-partition", m => offered.GetValueOrDefault(m), Pkcs11MechanismCheck.ServiceRequirements));

        Assert.Contains("'vendor-partition'", ex.Message);
        Assert.Contains("lacks 3 of", ex.Message);
        Assert.Contains("CKM_AES_GCM is not offered", ex.Message);
        Assert.Contains("CKM_EC_KEY_PAIR_GEN is not offered", ex.Message, "the standard name, not CKM_ECDSA_KEY_PAIR_GEN");
        Assert.Contains("CKM_ECDH1_DERIVE is not offered", ex.Message);
        Assert.Contains("Nothing was created", ex.Message);
        Assert.DoesNotContain("CKM_SHA256_HMAC", ex.Message, "only the shortfalls are listed");
    }

    [TestMethod]
    public void A_mechanism_offered_without_the_needed_function_or_key_size_is_a_shortfall()
    {
        var offered = Pkcs11MechanismCheck.ServiceRequirements.ToDictionary(r => r.Mechanism, _ => new Pkcs11MechanismSupport(All, 0, 0));
        offered[CKM.CKM_AES_GCM] = new Pkcs11MechanismSupport(Pkcs11MechanismUse.Encrypt, 16, 32);
        offered[CKM.CKM_AES_KEY_GEN] = new Pkcs11MechanismSupport(Pkcs11MechanismUse.Generate, 16, 24);

        HsmConfigurationException ex = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11MechanismCheck.Require(
            "t", m => offered.GetValueOrDefault(m), Pkcs11MechanismCheck.ServiceRequirements));

        Assert.Contains("CKM_AES_GCM is offered without CKF_DECRYPT", ex.Message);
        Assert.Contains("CKM_AES_KEY_GEN supports key sizes 16..24, not 32", ex.Message);
    }

    [TestMethod]
    public void Every_mechanism_the_services_call_is_checked()
    {
        CKM[] checkedMechanisms = [.. Pkcs11MechanismCheck.ServiceRequirements.Select(r => r.Mechanism)];
        CollectionAssert.AreEquivalent(
            new[] { CKM.CKM_AES_KEY_GEN, CKM.CKM_AES_ECB_ENCRYPT_DATA, CKM.CKM_AES_GCM, CKM.CKM_GENERIC_SECRET_KEY_GEN, CKM.CKM_SHA256_HMAC, CKM.CKM_EC_KEY_PAIR_GEN, CKM.CKM_ECDSA, CKM.CKM_ECDH1_DERIVE },
            checkedMechanisms);
    }
}
