using System.Security.Cryptography;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// The token-generated IV modes end to end on SoftHSM2. SoftHSM2 only takes a caller IV, so a small
/// adapter in front of its C_Encrypt plays the vendor token: it refuses anything but the zeroed IV
/// buffer, picks the IV itself, and reports it the way that kind of token does. Everything else —
/// the real key, the real encryption, the strategy's parsing and the services' unseal — is the
/// production path.
/// </summary>
[TestClass]
public sealed class Pkcs11TokenGeneratedIvTests
{
    [TestMethod]
    [DataRow(Pkcs11GcmIvMode.TokenWritesParameter)]
    [DataRow(Pkcs11GcmIvMode.TokenAppendsToOutput)]
    public void Seal_and_unseal_conform_with_a_token_generated_iv(Pkcs11GcmIvMode mode)
    {
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("token-iv") with { GcmIvMode = mode };
        var adapters = new List<VendorTokenAdapter>();
        var hooks = new Pkcs11Hooks
        {
            WrapGcmEncryption = softHsm =>
            {
                var adapter = new VendorTokenAdapter(softHsm, mode);
                adapters.Add(adapter);
                return adapter;
            },
        };
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options, hooks);

        HsmServicesConformance.AssertSealRoundTrips(hsm);
        HsmServicesConformance.AssertAnyAlterationIsRejected(hsm);
        byte[] sealedData = hsm.Seal("k"u8, "aad"u8);
        CollectionAssert.AreEqual(adapters[^1].GeneratedIv, sealedData[13..25], "the GCM half of the sealed nonce (after the version byte and the derivation half) is the IV the token chose");

        // Same format whatever the mode: a caller-IV instance on the same keys opens it.
        using var callerMode = Pkcs11HsmServices.Open(options with { GcmIvMode = Pkcs11GcmIvMode.CallerSupplied });
        Assert.IsTrue(callerMode.TryUnseal(sealedData, "aad"u8, out byte[] plaintext));
        CollectionAssert.AreEqual("k"u8.ToArray(), plaintext);
    }

    [TestMethod]
    public void A_token_that_does_not_generate_the_iv_fails_closed()
    {
        // Plain SoftHSM2 in TokenWritesParameter mode: it encrypts under the zeroed buffer and leaves it zero.
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("token-iv-none") with { GcmIvMode = Pkcs11GcmIvMode.TokenWritesParameter };
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options);
        CryptographicException ex = Assert.ThrowsExactly<CryptographicException>(() => hsm.Seal("k"u8, []));
        Assert.Contains("all zero", ex.Message);
    }

    [TestMethod]
    public void The_caller_iv_is_read_back_unchanged_from_softhsm2()
    {
        // The real read-back path on a token that keeps the caller's IV: what goes in comes out.
        Pkcs11Options options = SoftHsmSandbox.ForThisProcess.NewKeySet("token-iv-caller");
        byte[]? seen = null;
        var hooks = new Pkcs11Hooks { WrapGcmEncryption = softHsm => new Recording(softHsm, output => seen = output.IvAfterCall) };
        using var hsm = Pkcs11HsmServices.OpenOrProvision(options, hooks);
        byte[] sealedData = hsm.Seal("k"u8, []);
        Assert.IsNotNull(seen);
        CollectionAssert.AreEqual(sealedData[13..25], seen, "N[12:24] is the GCM IV");
    }

    /// <summary>Plays a token that generates the IV, in front of SoftHSM2's caller-IV C_Encrypt.</summary>
    private sealed class VendorTokenAdapter(IAesGcmTokenEncryption softHsm, Pkcs11GcmIvMode mode) : IAesGcmTokenEncryption
    {
        public byte[] GeneratedIv { get; private set; } = [];

        public AesGcmTokenOutput Encrypt(byte[] iv, byte[]? associatedData, byte[] plaintext)
        {
            Assert.IsFalse(iv.Any(b => b != 0), "in a token-generated mode the services hand over a zeroed IV buffer");
            GeneratedIv = RandomNumberGenerator.GetBytes(12);
            AesGcmTokenOutput real = softHsm.Encrypt((byte[])GeneratedIv.Clone(), associatedData, plaintext);
            return mode == Pkcs11GcmIvMode.TokenAppendsToOutput
                ? new([.. real.Output, .. GeneratedIv], iv)
                : new(real.Output, real.IvAfterCall);
        }
    }

    private sealed class Recording(IAesGcmTokenEncryption inner, Action<AesGcmTokenOutput> record) : IAesGcmTokenEncryption
    {
        public AesGcmTokenOutput Encrypt(byte[] iv, byte[]? associatedData, byte[] plaintext)
        {
            AesGcmTokenOutput output = inner.Encrypt(iv, associatedData, plaintext);
            record(output);
            return output;
        }
    }
}
