using System.Runtime.InteropServices;
using System.Security.Cryptography;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.MechanismParams;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// The AES-GCM IV layouts, against a software "token" (.NET AesGcm) that behaves like each kind of
/// HSM, and checked by decrypting the sealed bytes independently.
/// </summary>
[TestClass]
public sealed class AesGcmIvStrategyTests
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    [TestMethod]
    [DataRow(Pkcs11GcmIvMode.CallerSupplied)]
    [DataRow(Pkcs11GcmIvMode.TokenWritesParameter)]
    [DataRow(Pkcs11GcmIvMode.TokenAppendsToOutput)]
    public void Each_mode_yields_iv_then_ciphertext_then_tag(Pkcs11GcmIvMode mode)
    {
        var strategy = AesGcmIvStrategy.For(mode);
        byte[] callerIv = RandomNumberGenerator.GetBytes(12);
        var token = new SoftwareToken(mode);
        byte[] plaintext = "record contents"u8.ToArray();
        byte[] aad = "record:alice:v7"u8.ToArray();

        byte[] sealedData = strategy.Seal(token, _ => (byte[])callerIv.Clone(), plaintext, aad);

        Assert.HasCount(12 + plaintext.Length + 16, sealedData);
        CollectionAssert.AreEqual(mode == Pkcs11GcmIvMode.CallerSupplied ? callerIv : token.LastIv, sealedData[..12], "the IV the token used comes first");
        CollectionAssert.AreEqual(plaintext, Open(sealedData, aad));
        if (mode != Pkcs11GcmIvMode.CallerSupplied)
        {
            CollectionAssert.AreEqual(new byte[12], token.LastIvReceived, "a token-generated IV starts from a zeroed buffer");
        }
    }

    [TestMethod]
    [DataRow(Pkcs11GcmIvMode.TokenWritesParameter)]
    [DataRow(Pkcs11GcmIvMode.TokenAppendsToOutput)]
    public void A_token_that_leaves_the_iv_zero_is_refused(Pkcs11GcmIvMode mode)
    {
        // A token that ignored the request to generate: it encrypted under the all-zero IV, every time.
        var strategy = AesGcmIvStrategy.For(mode);
        byte[] output = Encrypt(new byte[12], [1, 2, 3], null);
        AesGcmTokenOutput result = mode == Pkcs11GcmIvMode.TokenAppendsToOutput ? new([.. output, .. new byte[12]], new byte[12]) : new(output, new byte[12]);

        CryptographicException ex = Assert.ThrowsExactly<CryptographicException>(() => strategy.ToSealed(new byte[12], result, 3));
        Assert.Contains("all zero", ex.Message);
    }

    [TestMethod]
    public void Caller_mode_refuses_a_token_that_replaced_the_iv()
    {
        var strategy = AesGcmIvStrategy.For(Pkcs11GcmIvMode.CallerSupplied);
        byte[] sent = RandomNumberGenerator.GetBytes(12);
        byte[] replaced = RandomNumberGenerator.GetBytes(12);
        CryptographicException ex = Assert.ThrowsExactly<CryptographicException>(() => strategy.ToSealed(sent, new(Encrypt(replaced, [9], null), replaced), 1));
        Assert.Contains(nameof(Pkcs11GcmIvMode.TokenWritesParameter), ex.Message);
    }

    [TestMethod]
    public void Appended_mode_refuses_two_ivs_that_disagree()
    {
        var strategy = AesGcmIvStrategy.For(Pkcs11GcmIvMode.TokenAppendsToOutput);
        byte[] iv = RandomNumberGenerator.GetBytes(12);
        AesGcmTokenOutput result = new([.. Encrypt(iv, [9], null), .. iv], RandomNumberGenerator.GetBytes(12));
        Assert.ThrowsExactly<CryptographicException>(() => strategy.ToSealed(new byte[12], result, 1));

        // The same IV in both places is fine.
        byte[] sealedData = strategy.ToSealed(new byte[12], result with { IvAfterCall = iv }, 1);
        CollectionAssert.AreEqual(iv, sealedData[..12]);
    }

    [TestMethod]
    [DataRow(Pkcs11GcmIvMode.CallerSupplied, 5, DisplayName = "caller IV, no tag")]
    [DataRow(Pkcs11GcmIvMode.TokenWritesParameter, 33, DisplayName = "IV in the parameter, but one appended too")]
    [DataRow(Pkcs11GcmIvMode.TokenAppendsToOutput, 21, DisplayName = "appended IV missing")]
    [DataRow(Pkcs11GcmIvMode.TokenAppendsToOutput, 34, DisplayName = "one byte too many")]
    public void An_output_of_the_wrong_length_for_the_mode_is_refused(Pkcs11GcmIvMode mode, int outputLength)
    {
        // Five bytes of plaintext: 21 bytes of output with the tag, 33 with an appended IV too.
        var strategy = AesGcmIvStrategy.For(mode);
        byte[] iv = RandomNumberGenerator.GetBytes(12);
        AesGcmTokenOutput result = new(RandomNumberGenerator.GetBytes(outputLength), iv);
        CryptographicException ex = Assert.ThrowsExactly<CryptographicException>(() => strategy.ToSealed(iv, result, 5));
        Assert.Contains($"{outputLength} bytes", ex.Message);
    }

    [TestMethod]
    public void An_unknown_mode_is_a_configuration_error() =>
        Assert.ThrowsExactly<HsmConfigurationException>(() => AesGcmIvStrategy.For((Pkcs11GcmIvMode)7));

    [TestMethod]
    public void The_iv_buffer_is_read_back_from_where_the_token_writes_it()
    {
        // Pkcs11Interop's own CK_GCM_PARAMS: a write through the pointer the token receives must be what ReadIv returns.
        var factories = new Pkcs11InteropFactories();
        using ICkGcmParams parameters = factories.MechanismParamsFactory.CreateCkGcmParams(new byte[12], 96, null, 128);
        CollectionAssert.AreEqual(new byte[12], Pkcs11AesGcmEncryption.ReadIv(parameters));

        byte[] tokenIv = RandomNumberGenerator.GetBytes(12);
        var structure = (Net.Pkcs11Interop.LowLevelAPI80.MechanismParams.CK_GCM_PARAMS)parameters.ToMarshalableStructure();
        Marshal.Copy(tokenIv, 0, structure.Iv, tokenIv.Length);

        CollectionAssert.AreEqual(tokenIv, Pkcs11AesGcmEncryption.ReadIv(parameters));
    }

    private static byte[] Encrypt(byte[] iv, byte[] plaintext, byte[]? aad)
    {
        using var gcm = new AesGcm(Key, 16);
        byte[] ciphertext = new byte[plaintext.Length];
        byte[] tag = new byte[16];
        gcm.Encrypt(iv, plaintext, ciphertext, tag, aad);
        return [.. ciphertext, .. tag];
    }

    private static byte[] Open(byte[] sealedData, byte[] aad)
    {
        using var gcm = new AesGcm(Key, 16);
        byte[] plaintext = new byte[sealedData.Length - 28];
        gcm.Decrypt(sealedData[..12], sealedData[12..^16], sealedData[^16..], plaintext, aad);
        return plaintext;
    }

    /// <summary>A token of the given kind: takes the caller's IV, or makes its own and reports it in the parameter or the output.</summary>
    private sealed class SoftwareToken(Pkcs11GcmIvMode mode) : IAesGcmTokenEncryption
    {
        public byte[] LastIv { get; private set; } = [];

        public byte[] LastIvReceived { get; private set; } = [];

        public AesGcmTokenOutput Encrypt(byte[] iv, byte[]? associatedData, byte[] plaintext)
        {
            LastIvReceived = (byte[])iv.Clone();
            LastIv = mode == Pkcs11GcmIvMode.CallerSupplied ? iv : RandomNumberGenerator.GetBytes(12);
            byte[] output = AesGcmIvStrategyTests.Encrypt(LastIv, plaintext, associatedData);
            return mode switch
            {
                Pkcs11GcmIvMode.TokenAppendsToOutput => new([.. output, .. LastIv], iv),
                _ => new(output, LastIv),
            };
        }
    }
}
