using System.Security.Cryptography;
using HsmVault.Enclave;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Math;
using BcPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// Checks every <see cref="IHsmServices"/> implementation must pass, computed independently of the
/// implementations (BouncyCastle for point arithmetic, .NET for ECDSA verification).
/// </summary>
internal static class HsmServicesConformance
{
    internal static readonly X9ECParameters Curve = CustomNamedCurves.GetByName("P-256");

    internal static BcPoint Decode(byte[] compressed) => Curve.Curve.DecodePoint(compressed).Normalize();

    internal static byte[] Compress(BcPoint point) => point.Normalize().GetEncoded(true);

    internal static BigInteger RandomScalar()
    {
        byte[] bytes = RandomNumberGenerator.GetBytes(32);
        return new BigInteger(1, bytes).Mod(Curve.N.Subtract(BigInteger.One)).Add(BigInteger.One);
    }

    /// <summary>DH(peer = r*G) must equal r*PK computed in software, the whole point including the y sign.</summary>
    internal static void AssertDiffieHellmanIsTheFullProduct(IHsmServices hsm, int iterations)
    {
        BcPoint akePublic = Decode(hsm.AkePublicKey);
        var prefixesSeen = new HashSet<byte>();
        for (int i = 0; i < iterations; i++)
        {
            BigInteger r = RandomScalar();
            byte[] peer = Compress(Curve.G.Multiply(r));
            byte[] expected = Compress(akePublic.Multiply(r));
            byte[] actual = hsm.AkeDiffieHellman(peer);
            CollectionAssert.AreEqual(expected, actual, $"iteration {i}");
            prefixesSeen.Add(actual[0]);
        }

        Assert.HasCount(2, prefixesSeen, "both y parities must have been produced and checked");
    }

    /// <summary>
    /// The channel key's DH is HPKE's: the x-coordinate of sk * peer for an uncompressed peer, equal
    /// to the software product against the published channel key; invalid points are refused.
    /// </summary>
    internal static void AssertChannelDiffieHellmanIsTheSharedX(IHsmServices hsm, int iterations)
    {
        Assert.HasCount(65, hsm.ChannelPublicKey);
        BcPoint channelPublic = Curve.Curve.DecodePoint(hsm.ChannelPublicKey).Normalize();
        Assert.IsTrue(channelPublic.IsValid(), "the channel key is a P-256 point");
        for (int i = 0; i < iterations; i++)
        {
            BigInteger r = RandomScalar();
            byte[] peer = Curve.G.Multiply(r).Normalize().GetEncoded(false);
            byte[] expected = channelPublic.Multiply(r).Normalize().AffineXCoord.GetEncoded();
            CollectionAssert.AreEqual(expected, hsm.ChannelDiffieHellman(peer), $"iteration {i}");
        }

        byte[] valid = Curve.G.Multiply(BigInteger.ValueOf(7)).Normalize().GetEncoded(false);
        byte[] offCurve = (byte[])valid.Clone();
        offCurve[^1] ^= 1;
        foreach (byte[] bad in new[] { [], valid[..64], Compress(Curve.G), offCurve, new byte[65] })
        {
            Assert.ThrowsExactly<ArgumentException>(() => hsm.ChannelDiffieHellman(bad), $"{bad.Length} bytes");
        }

        CollectionAssert.AreNotEqual(Compress(channelPublic), hsm.AkePublicKey, "the channel key is its own key, not the AKE key");
    }

    internal static void AssertDiffieHellmanHandlesTheGenerator(IHsmServices hsm)
    {
        byte[] generator = Compress(Curve.G);
        byte[] negatedGenerator = Compress(Curve.G.Negate());
        CollectionAssert.AreEqual(hsm.AkePublicKey, hsm.AkeDiffieHellman(generator));
        CollectionAssert.AreEqual(Compress(Decode(hsm.AkePublicKey).Negate()), hsm.AkeDiffieHellman(negatedGenerator));
    }

    /// <summary>Encodings that are not a P-256 point: wrong length, wrong prefix, x with no point, x ≥ p.</summary>
    internal static IEnumerable<byte[]> InvalidPeerPoints()
    {
        byte[] valid = Compress(Curve.G.Multiply(BigInteger.ValueOf(7)));
        yield return [];
        yield return [0x00];
        yield return valid[..32];
        yield return [.. valid, 0x00];
        yield return Curve.G.Multiply(BigInteger.ValueOf(7)).Normalize().GetEncoded(false);
        yield return [0x04, .. valid[1..]];
        yield return [0x05, .. valid[1..]];
        yield return [0x02, .. XWithoutPoint()];
        yield return [0x02, .. Enumerable.Repeat((byte)0xFF, 32)]; // x >= p
        yield return [0x03, .. Curve.Curve.Field.Characteristic.ToByteArrayUnsigned()]; // x = p
    }

    /// <summary>The smallest x for which x^3 - 3x + b is not a square mod p, so no curve point has it.</summary>
    internal static byte[] XWithoutPoint()
    {
        BigInteger p = Curve.Curve.Field.Characteristic;
        BigInteger b = Curve.Curve.B.ToBigInteger();
        BigInteger halfOrder = p.Subtract(BigInteger.One).ShiftRight(1);
        for (int candidate = 0; ; candidate++)
        {
            BigInteger x = BigInteger.ValueOf(candidate);
            BigInteger rhs = x.Pow(3).Subtract(x.Multiply(BigInteger.Three)).Add(b).Mod(p);
            if (!rhs.ModPow(halfOrder, p).Equals(BigInteger.One))
            {
                return Org.BouncyCastle.Utilities.BigIntegers.AsUnsignedByteArray(32, x);
            }
        }
    }

    internal static void AssertInvalidPeerPointsAreRejected(IHsmServices hsm)
    {
        int checkedPoints = 0;
        foreach (byte[] point in InvalidPeerPoints())
        {
            ArgumentException ex = Assert.ThrowsExactly<ArgumentException>(() => hsm.AkeDiffieHellman(point), $"point {Convert.ToHexString(point)}");
            Assert.AreEqual("peerPoint", ex.ParamName);
            checkedPoints++;
        }

        Assert.IsGreaterThan(5, checkedPoints);
    }

    internal static void AssertSignatureVerifies(IHsmServices hsm)
    {
        using ECDsa verifier = PublicEcdsa(hsm.IdentityPublicKey);
        byte[] message = "log entry 42"u8.ToArray();
        byte[] signature = hsm.Sign(message);
        Assert.HasCount(64, signature);
        Assert.IsTrue(verifier.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        Assert.IsFalse(verifier.VerifyData("log entry 43"u8, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        Assert.IsTrue(verifier.VerifyData(Array.Empty<byte>(), hsm.Sign([]), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    internal static ECDsa PublicEcdsa(byte[] compressed)
    {
        BcPoint point = Decode(compressed);
        return ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = point.AffineXCoord.GetEncoded(), Y = point.AffineYCoord.GetEncoded() },
        });
    }

    internal static void AssertSealRoundTrips(IHsmServices hsm)
    {
        foreach (int length in new[] { 0, 1, 15, 16, 17, 1000 })
        {
            byte[] plaintext = RandomNumberGenerator.GetBytes(length);
            foreach (byte[] aad in new[] { Array.Empty<byte>(), "record:alice:v3"u8.ToArray() })
            {
                byte[] sealedData = hsm.Seal(plaintext, aad);
                Assert.HasCount(SealedFormat.SealedLength(length), sealedData);
                Assert.AreEqual(1 + 24 + length + 16, sealedData.Length, "version || 192-bit nonce || ciphertext || tag");
                Assert.AreEqual(SealedFormat.XaesVersion, sealedData[0], "the format byte");
                Assert.IsTrue(hsm.TryUnseal(sealedData, aad, out byte[] opened), $"length {length}, aad {aad.Length}");
                CollectionAssert.AreEqual(plaintext, opened);
            }
        }
    }

    internal static void AssertAnyAlterationIsRejected(IHsmServices hsm)
    {
        byte[] aad = "record:bob:v1"u8.ToArray();
        byte[] sealedData = hsm.Seal("the backup key K, 32 bytes long!"u8, aad);

        // Every byte: the version (0), the nonce's key-derivation half (1..12) and GCM half (13..24), the ciphertext and the tag (last 16).
        for (int i = 0; i < sealedData.Length; i++)
        {
            string region = i switch
            {
                0 => "version byte",
                <= 12 => "nonce, derivation half",
                <= 24 => "nonce, GCM half",
                _ when i >= sealedData.Length - 16 => "tag",
                _ => "ciphertext",
            };
            byte[] altered = (byte[])sealedData.Clone();
            altered[i] ^= 0x01;
            Assert.IsFalse(hsm.TryUnseal(altered, aad, out byte[] plaintext), $"bit flipped in byte {i} ({region})");
            Assert.IsEmpty(plaintext);
        }

        foreach (byte version in new byte[] { 0x00, 0x02, 0xFF })
        {
            byte[] otherVersion = [version, .. sealedData[1..]];
            Assert.IsFalse(hsm.TryUnseal(otherVersion, aad, out _), $"version byte 0x{version:x2}");
        }

        Assert.IsFalse(hsm.TryUnseal(sealedData, "record:bob:v2"u8, out _), "other associated data");
        Assert.IsFalse(hsm.TryUnseal(sealedData, [], out _), "missing associated data");
        Assert.IsFalse(hsm.TryUnseal(sealedData[..^1], aad, out _), "truncated tag");
        Assert.IsFalse(hsm.TryUnseal([.. sealedData, 0], aad, out _), "appended byte");
        for (int length = 0; length < SealedFormat.Overhead; length++)
        {
            Assert.IsFalse(hsm.TryUnseal(sealedData[..length], aad, out _), $"only {length} bytes");
        }

        Assert.IsTrue(hsm.TryUnseal(sealedData, aad, out _), "the original still opens");
    }

    internal static void AssertHmacKeysAreDistinct(IHsmServices hsm)
    {
        byte[] data = "user-id-0001"u8.ToArray();
        var macs = Enum.GetValues<HsmHmacKey>().Select(role => hsm.Hmac(role, data)).ToList();
        foreach (byte[] mac in macs)
        {
            Assert.HasCount(32, mac);
        }

        Assert.HasCount(macs.Count, macs.Select(Convert.ToHexString).Distinct(), "each role has its own key");
        CollectionAssert.AreEqual(macs[0], hsm.Hmac(HsmHmacKey.OprfSeed, data), "the same key and data give the same MAC");
        CollectionAssert.AreNotEqual(macs[0], hsm.Hmac(HsmHmacKey.OprfSeed, "user-id-0002"u8), "other data, other MAC");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => hsm.Hmac((HsmHmacKey)99, data));
    }

    internal static void AssertPublicKeysAreCompressedPoints(IHsmServices hsm)
    {
        foreach (byte[] key in new[] { hsm.IdentityPublicKey, hsm.AkePublicKey })
        {
            Assert.HasCount(33, key);
            Assert.IsTrue(key[0] is 0x02 or 0x03);
            Assert.IsTrue(Decode(key).IsValid());
        }

        CollectionAssert.AreNotEqual(hsm.IdentityPublicKey, hsm.AkePublicKey, "identity and AKE keys are distinct");
    }
}
