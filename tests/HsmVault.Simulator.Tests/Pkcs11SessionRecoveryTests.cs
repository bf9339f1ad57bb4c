using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Simulator.Tests.Enclave;
using HsmVault.Testing;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// A lost session is reopened and logged in again, once per call; errors that are not a bad tag
/// never read as "does not unseal".
/// </summary>
[TestClass]
public sealed class Pkcs11SessionRecoveryTests
{
    [TestMethod]
    public void After_every_session_of_the_process_is_closed_the_next_calls_succeed()
    {
        // A token of its own: C_CloseAllSessions also logs the process out of the token.
        var reported = new List<string>();
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.CreateToken("session-loss") with { SessionReopened = reported.Add };
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options);
        byte[] sealedBefore = hsm.Seal("before"u8, "aad"u8);
        hsm.WriteNvram("one"u8);
        byte[] macBefore = hsm.Hmac(HsmHmacKey.LogMac, "entry"u8);

        using (var inspector = new TokenInspector(options))
        {
            inspector.CloseAllSessionsOfThisProcess();
        }

        Assert.IsTrue(hsm.TryUnseal(sealedBefore, "aad"u8, out byte[] plaintext), "the first call after the loss reopens and succeeds");
        CollectionAssert.AreEqual("before"u8.ToArray(), plaintext);
        Assert.AreEqual(1, hsm.SessionReopens);
        CollectionAssert.AreEqual(macBefore, hsm.Hmac(HsmHmacKey.LogMac, "entry"u8), "the same key, found again by label");
        HsmServicesConformance.AssertSignatureVerifies(hsm);
        HsmServicesConformance.AssertDiffieHellmanIsTheFullProduct(hsm, iterations: 40);
        hsm.WriteNvram("two"u8);
        CollectionAssert.AreEqual("two"u8.ToArray(), hsm.ReadNvram());
        Assert.AreEqual(1, hsm.SessionReopens, "one loss, one reopen");
        Assert.HasCount(1, reported, "the operator is told of the reopen");
        Assert.Contains("TryUnseal", reported[0]);
        Assert.Contains(nameof(CKR.CKR_SESSION_HANDLE_INVALID), reported[0]);
        Assert.DoesNotContain(SoftHsmSandbox.UserPin, reported[0]);

        using var reopened = Pkcs11HsmServices.Open(options);
        CollectionAssert.AreEqual("two"u8.ToArray(), reopened.ReadNvram(), "the NVRAM written after the reopen is durable");
        using var inspectorAfter = new TokenInspector(options);
        Assert.HasCount(1, inspectorAfter.Find(CKO.CKO_DATA, $"{options.KeyLabelPrefix}-nvram"), "the old NVRAM object was found again and destroyed");
    }

    [TestMethod]
    [DataRow(CKR.CKR_SESSION_HANDLE_INVALID)]
    [DataRow(CKR.CKR_SESSION_CLOSED)]
    [DataRow(CKR.CKR_DEVICE_REMOVED)]
    [DataRow(CKR.CKR_TOKEN_NOT_PRESENT)]
    [DataRow(CKR.CKR_USER_NOT_LOGGED_IN)]
    public void A_session_loss_is_retried_once_on_a_new_session(CKR loss)
    {
        var hooks = new Pkcs11Hooks();
        using var hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("session-retry"), hooks);
        byte[] sealedData = hsm.Seal("x"u8, []);

        hooks.FailNext(nameof(hsm.TryUnseal), loss);
        Assert.IsTrue(hsm.TryUnseal(sealedData, [], out _));
        hooks.FailNext(nameof(hsm.Seal), loss);
        Assert.HasCount(SealedFormat.SealedLength(1), hsm.Seal("y"u8, []));
        Assert.AreEqual(2, hsm.SessionReopens);
    }

    [TestMethod]
    public void A_loss_that_persists_after_the_reopen_is_hsm_unavailable_not_a_bad_record()
    {
        var hooks = new Pkcs11Hooks();
        using var hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("session-twice"), hooks);
        byte[] sealedData = hsm.Seal("x"u8, []);

        hooks.FailNext(nameof(hsm.TryUnseal), CKR.CKR_DEVICE_REMOVED);
        hooks.FailNext(nameof(hsm.TryUnseal), CKR.CKR_DEVICE_REMOVED);
        HsmUnavailableException ex = Assert.ThrowsExactly<HsmUnavailableException>(() => hsm.TryUnseal(sealedData, [], out _));
        Assert.Contains(nameof(CKR.CKR_DEVICE_REMOVED), ex.Message);
        Assert.Contains("after the session was reopened", ex.Message);

        Assert.IsTrue(hsm.TryUnseal(sealedData, [], out _), "the services keep working once the token is back");
    }

    [TestMethod]
    public void An_nvram_write_whose_answer_was_lost_is_not_written_twice()
    {
        var hooks = new Pkcs11Hooks();
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("nvram-lost-answer");
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(options, hooks))
        {
            hsm.WriteNvram("one"u8);

            // The token created the next object, then the session died before the answer came back.
            hooks.FailNextAfterCall(nameof(hsm.WriteNvram), CKR.CKR_SESSION_HANDLE_INVALID);
            hsm.WriteNvram("two"u8);
            Assert.AreEqual(1, hsm.SessionReopens);
            CollectionAssert.AreEqual("two"u8.ToArray(), hsm.ReadNvram());
            hsm.WriteNvram("three"u8);
        }

        using var inspector = new TokenInspector(options);
        Assert.HasCount(1, inspector.Find(CKO.CKO_DATA, $"{options.KeyLabelPrefix}-nvram"), "one NVRAM object, not two with the same sequence");
        using var reopened = Pkcs11HsmServices.Open(options);
        CollectionAssert.AreEqual("three"u8.ToArray(), reopened.ReadNvram());
    }

    [TestMethod]
    public void A_key_pair_replaced_while_the_session_was_down_stops_the_services()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.CreateToken("session-swap");
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options);
        byte[] identity = hsm.IdentityPublicKey;

        // Someone with the PIN swaps the identity key pair for one of their own under the same label.
        Pkcs11Options other = options with { KeyLabelPrefix = "swap-source" };
        using (Pkcs11HsmServices.OpenOrProvision(other))
        {
        }

        using (var inspector = new TokenInspector(options))
        {
            string label = $"{options.KeyLabelPrefix}-identity-key";
            inspector.Session.DestroyObject(inspector.FindSingle(CKO.CKO_PRIVATE_KEY, label));
            inspector.Session.DestroyObject(inspector.FindSingle(CKO.CKO_PUBLIC_KEY, label));
            foreach (CKO objectClass in new[] { CKO.CKO_PRIVATE_KEY, CKO.CKO_PUBLIC_KEY })
            {
                inspector.Session.SetAttributeValue(
                    inspector.FindSingle(objectClass, "swap-source-identity-key"),
                    [inspector.Attributes.Create(CKA.CKA_LABEL, label)]);
            }

            inspector.CloseAllSessionsOfThisProcess();
        }

        HsmUnavailableException ex = Assert.ThrowsExactly<HsmUnavailableException>(() => hsm.Sign("entry"u8));
        Assert.Contains("not the ones the services started with", ex.Message);
        Assert.ThrowsExactly<HsmUnavailableException>(() => hsm.Sign("entry"u8), "no call runs on handles of the lost session");
        Assert.ThrowsExactly<HsmUnavailableException>(() => hsm.Hmac(HsmHmacKey.LogMac, "entry"u8));
        using var swapped = Pkcs11HsmServices.Open(options);
        CollectionAssert.AreNotEqual(identity, swapped.IdentityPublicKey, "the token now holds another identity key");
    }

    [TestMethod]
    [DataRow(CKR.CKR_DEVICE_ERROR)]
    [DataRow(CKR.CKR_DEVICE_MEMORY)]
    [DataRow(CKR.CKR_FUNCTION_FAILED)]
    [DataRow(CKR.CKR_KEY_HANDLE_INVALID)]
    public void A_decrypt_error_that_is_not_a_bad_tag_throws_instead_of_returning_false(CKR error)
    {
        var hooks = new Pkcs11Hooks();
        using var hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("unseal-errors"), hooks);
        byte[] sealedData = hsm.Seal("x"u8, []);

        hooks.FailNext(nameof(hsm.TryUnseal), error);
        HsmUnavailableException ex = Assert.ThrowsExactly<HsmUnavailableException>(() => hsm.TryUnseal(sealedData, [], out _));
        Assert.Contains(error.ToString(), ex.Message);
    }

    [TestMethod]
    [DataRow(CKR.CKR_ENCRYPTED_DATA_INVALID)]
    [DataRow(CKR.CKR_GENERAL_ERROR)]
    [DataRow(CKR.CKR_SIGNATURE_INVALID)]
    [DataRow((CKR)0x35)] // CKR_AEAD_DECRYPT_FAILED
    public void The_tag_failure_codes_mean_does_not_unseal(CKR tagFailure)
    {
        var hooks = new Pkcs11Hooks();
        using var hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("unseal-tags"), hooks);
        byte[] sealedData = hsm.Seal("x"u8, []);

        hooks.FailNext(nameof(hsm.TryUnseal), tagFailure);
        Assert.IsFalse(hsm.TryUnseal(sealedData, [], out byte[] plaintext));
        Assert.IsEmpty(plaintext);
    }

    [TestMethod]
    public void The_enclave_fails_closed_on_an_unavailable_hsm_and_counts_nothing()
    {
        var hooks = new Pkcs11Hooks();
        using var hsm = Pkcs11HsmServices.OpenOrProvision(SoftHsmSandbox.ForThisProcess.NewKeySet("unseal-enclave"), hooks);
        var enclave = new VaultEnclave(hsm, VaultPolicy.Default);
        var host = new InMemoryVaultHost(request => enclave.Handle(request));
        var alice = new VaultTestUser(host, "alice");
        byte[] key = RandomNumberGenerator.GetBytes(32);
        alice.Register("pw", key);

        // The record's unseal hits a device error: not tampering, not "no record" — an internal error, nothing committed.
        hooks.FailNext(nameof(hsm.TryUnseal), CKR.CKR_DEVICE_ERROR);
        EnclaveRefusedException ex = Assert.ThrowsExactly<EnclaveRefusedException>(() => alice.Recover("wrong"));
        Assert.AreEqual(EnclaveErrorCode.EnclaveInternal, ex.Error.Code, ex.Error.Message);

        Assert.AreEqual(10u, alice.Status().Status.AttemptsLeft, "the failed request counted no guess");
        CollectionAssert.AreEqual(key, alice.Recover("pw"));
    }
}
