using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Testing;

namespace HsmVault.Simulator.Tests.Enclave;

/// <summary>Records survive closing and reopening the SoftHSM2 token: the committed root lives in the token's NVRAM.</summary>
[TestClass]
public sealed class SoftHsmVaultRestartTests
{
    [TestMethod]
    public void After_a_restart_on_the_same_token_the_hosts_records_still_verify_and_recover()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("enclave-restart");
        byte[] aliceKey = RandomNumberGenerator.GetBytes(32);
        byte[] bobKey = RandomNumberGenerator.GetBytes(32);
        InMemoryVaultHost host;
        StateReport before;
        byte[] akeKey;
        using (Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options))
        {
            var enclave = new VaultEnclave(hsm, VaultPolicy.Default);
            host = new InMemoryVaultHost(request => enclave.Handle(request));
            new VaultTestUser(host, "alice").Register("alice-pw", aliceKey);
            var bob = new VaultTestUser(host, "bob");
            bob.Register("bob-pw", bobKey);
            Assert.IsNull(bob.Recover("not-bob-pw"));
            before = host.Call(new EnclaveRequest { State = new StateQuery() }).State;
            akeKey = host.AkePublicKey;
        }

        using (Pkcs11HsmServices reopened = Pkcs11HsmServices.Open(options))
        {
            var enclave = new VaultEnclave(reopened, VaultPolicy.Default);
            StateReport after = host.Reattach(request => enclave.Handle(request));

            Assert.AreEqual(before.LogIndex, after.LogIndex);
            Assert.AreEqual(before.MerkleRoot, after.MerkleRoot);
            Assert.AreEqual(before.EntryMac, after.EntryMac);
            CollectionAssert.AreEqual(akeKey, host.AkePublicKey, "same token, same AKE key");

            var bob = new VaultTestUser(host, "bob");
            Assert.AreEqual(9u, bob.Status().Status.AttemptsLeft, "the counted guess survived the restart");
            CollectionAssert.AreEqual(aliceKey, new VaultTestUser(host, "alice").Recover("alice-pw"));
            CollectionAssert.AreEqual(bobKey, bob.Recover("bob-pw"));
            Assert.AreEqual(10u, bob.Status().Status.AttemptsLeft);
        }
    }

    [TestMethod]
    public void A_fresh_token_does_not_accept_another_tokens_records()
    {
        Pkcs11Options first = SoftHsmSandbox.ForThisProcess.NewKeySet("enclave-first");
        Pkcs11Options second = SoftHsmSandbox.ForThisProcess.NewKeySet("enclave-second");
        InMemoryVaultHost host;
        using (Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(first))
        {
            var enclave = new VaultEnclave(hsm, VaultPolicy.Default);
            host = new InMemoryVaultHost(request => enclave.Handle(request));
            new VaultTestUser(host, "alice").Register("pw", RandomNumberGenerator.GetBytes(32));
        }

        using Pkcs11HsmServices other = Pkcs11HsmServices.OpenOrProvision(second);
        var otherEnclave = new VaultEnclave(other, VaultPolicy.Default);
        Assert.ThrowsExactly<InvalidOperationException>(() => host.Reattach(request => otherEnclave.Handle(request)),
            "another token's NVRAM holds another root, so the host's tree does not match it");
    }
}
