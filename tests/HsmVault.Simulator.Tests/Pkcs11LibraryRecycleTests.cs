using System.Security.Cryptography;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// SoftHSM2 frees the objects it destroyed only at C_Finalize, so the services finalise and initialise
/// the library again every <see cref="Pkcs11Options.RecycleAfterCalls"/> calls. After each recycle every
/// handle is found again: what was sealed before still opens, the channel key still derives the right
/// shared secret, NVRAM keeps its last write in one object, and the keys are the same keys.
/// </summary>
[TestClass]
public sealed class Pkcs11LibraryRecycleTests
{
    [TestMethod]
    public void The_library_is_recycled_under_load_and_nothing_the_services_hold_is_lost()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("recycle") with { RecycleAfterCalls = 25 };
        byte[] lastNvram = [];
        byte[] identity;
        using (var hsm = Pkcs11HsmServices.OpenOrProvision(options))
        {
            identity = hsm.IdentityPublicKey;
            byte[] early = hsm.Seal("sealed before any recycle"u8, "aad"u8);
            using var peer = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
            using var channel = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = hsm.ChannelPublicKey[1..33], Y = hsm.ChannelPublicKey[33..65] },
            });
            ECParameters p = peer.ExportParameters(false);
            byte[] peerPoint = [0x04, .. p.Q.X!, .. p.Q.Y!];
            byte[] expectedShared = peer.DeriveRawSecretAgreement(channel.PublicKey);

            for (int i = 0; i < 60; i++)
            {
                byte[] aad = BitConverter.GetBytes(i);
                byte[] sealedValue = hsm.Seal([(byte)i, 1, 2, 3], aad);
                Assert.IsTrue(hsm.TryUnseal(sealedValue, aad, out byte[] opened), $"round {i}");
                CollectionAssert.AreEqual(new byte[] { (byte)i, 1, 2, 3 }, opened);
                lastNvram = [.. aad, (byte)i];
                hsm.WriteNvram(lastNvram);
                CollectionAssert.AreEqual(expectedShared, hsm.ChannelDiffieHellman(peerPoint), $"round {i}: the channel key after {hsm.LibraryRecycles} recycles");
            }

            Assert.IsGreaterThanOrEqualTo(3, hsm.LibraryRecycles, "the library was finalised and initialised again under load");
            Assert.AreEqual(0, hsm.SessionReopens, "recycles are not session losses");
            Assert.IsTrue(hsm.TryUnseal(early, "aad"u8, out byte[] earlyPlain), "a record sealed before the recycles still opens");
            CollectionAssert.AreEqual("sealed before any recycle"u8.ToArray(), earlyPlain);
            CollectionAssert.AreEqual(lastNvram, hsm.ReadNvram());
        }

        using var reopened = Pkcs11HsmServices.Open(options with { RecycleAfterCalls = 0 });
        CollectionAssert.AreEqual(identity, reopened.IdentityPublicKey, "the same identity key");
        CollectionAssert.AreEqual(lastNvram, reopened.ReadNvram(), "NVRAM's last write is durable across the recycles");
        using var inspector = new TokenInspector(options);
        Assert.HasCount(1, inspector.Find(CKO.CKO_DATA, $"{options.KeyLabelPrefix}-nvram"), "one NVRAM object: no stale one left behind by a recycle");
    }

    [TestMethod]
    public void A_negative_recycle_count_is_refused_naming_the_option()
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("recycle-bad") with { RecycleAfterCalls = -1 };
        var error = Assert.ThrowsExactly<HsmConfigurationException>(() => Pkcs11HsmServices.OpenOrProvision(options));
        StringAssert.Contains(error.Message, "RecycleAfterCalls");
    }
}
