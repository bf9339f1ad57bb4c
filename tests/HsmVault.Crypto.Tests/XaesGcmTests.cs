using System.Security.Cryptography;
using System.Text;
using HsmVault.Crypto.Tests.Vectors;
using HsmVault.Crypto.Xaes;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;

namespace HsmVault.Crypto.Tests;

/// <summary>
/// The software XAES-256-GCM reference (the record cipher's definition; the HSM path is tested against it in
/// the simulator tests) against the C2SP vectors: every intermediate value of the two examples, and the
/// 10,000-iteration accumulated vector. (The 1,000,000-iteration one takes minutes; it was run once by hand
/// with this code and matched, docs/CRYPTO.md.)
/// </summary>
[TestClass]
public sealed class XaesGcmTests
{
    [TestMethod]
    [DynamicData(nameof(C2spXaesVectors.Examples), typeof(C2spXaesVectors))]
    public void The_C2SP_examples_give_every_intermediate_value_and_the_ciphertext(string name, C2spXaesVectors.Example vector)
    {
        byte[] key = Convert.FromHexString(vector.Key);
        byte[] nonce = Encoding.ASCII.GetBytes(vector.Nonce);

        // L from an independent AES (BouncyCastle's engine directly), K1 and M1 || M2 from the derivation's arithmetic.
        byte[] l = new byte[16];
        var aes = new AesEngine();
        aes.Init(true, new KeyParameter(key));
        aes.ProcessBlock(new byte[16], 0, l, 0);
        Assert.AreEqual(vector.L, Convert.ToHexStringLower(l), $"{name}: L");
        byte[] k1 = new byte[16];
        XaesKeyDerivation.WriteSubkey(l, k1);
        Assert.AreEqual(vector.K1, Convert.ToHexStringLower(k1), $"{name}: K1");
        byte[] messages = new byte[32];
        XaesKeyDerivation.WriteDerivationInput(new byte[16], nonce[..12], messages);
        Assert.AreEqual(vector.M1 + vector.M2, Convert.ToHexStringLower(messages), $"{name}: M1 || M2 (K1 = 0 leaves them as they are)");

        using var xaes = new XaesGcm(key);
        byte[] derived = new byte[32];
        xaes.DeriveKey(nonce, derived);
        Assert.AreEqual(vector.DerivedKey, Convert.ToHexStringLower(derived), $"{name}: Kx");
        Assert.AreEqual(vector.GcmNonce, Convert.ToHexStringLower(nonce[12..]), $"{name}: Nx");

        byte[] plaintext = Encoding.ASCII.GetBytes(vector.Plaintext);
        byte[] aad = Encoding.ASCII.GetBytes(vector.AssociatedData);
        byte[] sealedBytes = Seal(xaes, nonce, plaintext, aad);
        Assert.AreEqual(vector.Ciphertext, Convert.ToHexStringLower(sealedBytes), $"{name}: ciphertext || tag");

        // And the standard AES-256-GCM under Kx and Nx (.NET's, not BouncyCastle's) agrees: XAES is GCM under a derived key.
        byte[] gcm = new byte[plaintext.Length + 16];
        using (var standard = new AesGcm(derived, 16))
        {
            standard.Encrypt(nonce[12..], plaintext, gcm.AsSpan(0, plaintext.Length), gcm.AsSpan(plaintext.Length), aad);
        }

        CollectionAssert.AreEqual(sealedBytes, gcm, $"{name}: AES-256-GCM under Kx");
        Assert.IsTrue(TryOpen(xaes, nonce, sealedBytes, aad, out byte[] opened));
        CollectionAssert.AreEqual(plaintext, opened);
    }

    [TestMethod]
    public void The_C2SP_accumulated_vector_of_10000_iterations_matches() =>
        Assert.AreEqual(C2spXaesVectors.Accumulated10000, Accumulate(10_000));

    [TestMethod]
    public void The_accumulation_fails_when_the_cipher_is_off_by_one_bit()
    {
        // The accumulated check can fail: hashing a ciphertext with one bit flipped gives another digest.
        Assert.AreNotEqual(C2spXaesVectors.Accumulated10000, Accumulate(10_000, flipFirstBitOfIteration: 9_999));
    }

    [TestMethod]
    public void Altered_nonce_ciphertext_tag_or_associated_data_do_not_open()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        byte[] nonce = RandomNumberGenerator.GetBytes(24);
        byte[] plaintext = RandomNumberGenerator.GetBytes(40);
        byte[] aad = "record:alice:v7"u8.ToArray();
        using var xaes = new XaesGcm(key);
        byte[] sealedBytes = Seal(xaes, nonce, plaintext, aad);
        for (int i = 0; i < nonce.Length; i++)
        {
            byte[] otherNonce = (byte[])nonce.Clone();
            otherNonce[i] ^= 0x80;
            Assert.IsFalse(TryOpen(xaes, otherNonce, sealedBytes, aad, out byte[] none), $"nonce byte {i}");
            Assert.IsTrue(none.All(b => b == 0), "nothing is released for a refused ciphertext");
        }

        for (int i = 0; i < sealedBytes.Length; i++)
        {
            byte[] altered = (byte[])sealedBytes.Clone();
            altered[i] ^= 0x01;
            Assert.IsFalse(TryOpen(xaes, nonce, altered, aad, out _), i < plaintext.Length ? $"ciphertext byte {i}" : $"tag byte {i - plaintext.Length}");
        }

        Assert.IsFalse(TryOpen(xaes, nonce, sealedBytes, "record:alice:v8"u8.ToArray(), out _), "other associated data");
        using var otherKey = new XaesGcm(RandomNumberGenerator.GetBytes(32));
        Assert.IsFalse(TryOpen(otherKey, nonce, sealedBytes, aad, out _), "another key");
        Assert.IsTrue(TryOpen(xaes, nonce, sealedBytes, aad, out byte[] opened), "the original opens");
        CollectionAssert.AreEqual(plaintext, opened);
    }

    [TestMethod]
    public void Nonces_differing_only_in_one_half_derive_other_keys_or_use_other_gcm_nonces()
    {
        using var xaes = new XaesGcm(RandomNumberGenerator.GetBytes(32));
        byte[] nonce = RandomNumberGenerator.GetBytes(24);
        byte[] first = new byte[32];
        byte[] second = new byte[32];
        xaes.DeriveKey(nonce, first);
        byte[] secondHalfChanged = [.. nonce[..12], .. RandomNumberGenerator.GetBytes(12)];
        xaes.DeriveKey(secondHalfChanged, second);
        CollectionAssert.AreEqual(first, second, "only N[0:12] picks the derived key");
        byte[] firstHalfChanged = [.. RandomNumberGenerator.GetBytes(12), .. nonce[12..]];
        xaes.DeriveKey(firstHalfChanged, second);
        CollectionAssert.AreNotEqual(first, second, "another N[0:12] derives another key");
        Assert.AreNotEqual(
            Convert.ToHexString(Seal(xaes, nonce, new byte[16], [])),
            Convert.ToHexString(Seal(xaes, secondHalfChanged, new byte[16], [])),
            "another N[12:24] is another GCM nonce");
    }

    [TestMethod]
    public void The_subkey_doubling_reduces_by_0x87_only_when_the_top_bit_is_set()
    {
        byte[] k1 = new byte[16];
        byte[] top = new byte[16];
        top[0] = 0x80;
        XaesKeyDerivation.WriteSubkey(top, k1);
        Assert.AreEqual("00000000000000000000000000000087", Convert.ToHexStringLower(k1));
        byte[] low = new byte[16];
        low[15] = 0x01;
        low[1] = 0x80;
        XaesKeyDerivation.WriteSubkey(low, k1);
        Assert.AreEqual("01000000000000000000000000000002", Convert.ToHexStringLower(k1));
    }

    private static byte[] Seal(XaesGcm xaes, byte[] nonce, byte[] plaintext, byte[] aad)
    {
        byte[] output = new byte[plaintext.Length + XaesGcm.TagLength];
        xaes.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), aad);
        return output;
    }

    private static bool TryOpen(XaesGcm xaes, byte[] nonce, byte[] sealedBytes, byte[] aad, out byte[] plaintext)
    {
        plaintext = new byte[sealedBytes.Length - XaesGcm.TagLength];
        return xaes.TryDecrypt(nonce, sealedBytes.AsSpan(0, plaintext.Length), sealedBytes.AsSpan(plaintext.Length), plaintext, aad);
    }

    // c2sp.org/XAES-256-GCM "Accumulated randomized tests": key[32], nonce[24], plaintext<0..255>, aad<0..255>
    // (one length byte, then the bytes) read from SHAKE-128(""), each ciphertext absorbed into a second SHAKE-128.
    private static string Accumulate(int iterations, int flipFirstBitOfIteration = -1)
    {
        var rng = new ShakeDigest(128);
        var hash = new ShakeDigest(128);
        byte[] Read(int length)
        {
            byte[] bytes = new byte[length];
            if (length > 0)
            {
                rng.Output(bytes, 0, length);
            }

            return bytes;
        }

        byte[] start = Read(16);
        Assert.AreEqual(C2spXaesVectors.RngStreamStart, Convert.ToHexStringLower(start), "the SHAKE-128 stream");
        rng = new ShakeDigest(128);
        for (int i = 0; i < iterations; i++)
        {
            byte[] key = Read(32);
            byte[] nonce = Read(24);
            byte[] plaintext = Read(Read(1)[0]);
            byte[] aad = Read(Read(1)[0]);
            using var xaes = new XaesGcm(key);
            byte[] sealedBytes = Seal(xaes, nonce, plaintext, aad);
            if (i % 1000 == 0)
            {
                Assert.IsTrue(TryOpen(xaes, nonce, sealedBytes, aad, out byte[] opened), $"iteration {i} opens");
                CollectionAssert.AreEqual(plaintext, opened);
            }

            if (i == flipFirstBitOfIteration)
            {
                sealedBytes[0] ^= 0x80;
            }

            hash.BlockUpdate(sealedBytes, 0, sealedBytes.Length);
        }

        byte[] digest = new byte[32];
        hash.OutputFinal(digest, 0, digest.Length);
        return Convert.ToHexStringLower(digest);
    }
}
