using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Hpke;

/// <summary>
/// HPKE (RFC 9180) base mode for one suite: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
/// Written here rather than taken from a library because the recipient's Diffie-Hellman must run
/// by key handle inside an HSM (<see cref="IHpkeRecipientKey"/>); the sender side uses the
/// project's regular P-256 multiplication.
/// </summary>
public static class HpkeP256
{
    /// <summary>KEM identifier of DHKEM(P-256, HKDF-SHA256).</summary>
    public const ushort KemId = 0x0010;

    /// <summary>KDF identifier of HKDF-SHA256.</summary>
    public const ushort KdfId = 0x0001;

    /// <summary>AEAD identifier of AES-128-GCM.</summary>
    public const ushort AeadId = 0x0001;

    /// <summary>Bytes of an encapsulated key (Nenc) and of a serialised public key (Npk).</summary>
    public const int EncapsulatedKeyLength = 65;

    /// <summary>AEAD key length (Nk).</summary>
    public const int KeyLength = 16;

    /// <summary>AEAD nonce length (Nn).</summary>
    public const int NonceLength = 12;

    /// <summary>AEAD tag length (Nt).</summary>
    public const int TagLength = 16;

    /// <summary>KDF output length (Nh) and shared-secret length (Nsecret).</summary>
    public const int HashLength = 32;

    private const byte ModeBase = 0x00;

    private static ReadOnlySpan<byte> VersionLabel => "HPKE-v1"u8;

    // suite_id for the KEM: "KEM" || I2OSP(kem_id, 2).
    private static ReadOnlySpan<byte> KemSuiteId => [(byte)'K', (byte)'E', (byte)'M', 0x00, 0x10];

    // suite_id for the key schedule: "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2).
    private static ReadOnlySpan<byte> HpkeSuiteId => [(byte)'H', (byte)'P', (byte)'K', (byte)'E', 0x00, 0x10, 0x00, 0x01, 0x00, 0x01];

    /// <summary>
    /// SetupBaseS: encapsulates to <paramref name="recipientPublicKey"/> with a fresh ephemeral key
    /// from <paramref name="random"/>; returns the context and the encapsulated key to send.
    /// </summary>
    public static HpkeContext SetupBaseSender(ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, IRandomSource random, out byte[] encapsulatedKey)
    {
        ArgumentNullException.ThrowIfNull(random);
        byte[] ephemeral = P256Group.RandomScalar(random);
        try
        {
            return SetupBaseSenderWith(ephemeral, recipientPublicKey, info, out encapsulatedKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ephemeral);
        }
    }

    /// <summary>
    /// SetupBaseS with a given ephemeral private key (32 bytes): for test vectors (RFC 9180's
    /// DeriveKeyPair(ikmE)); real senders use the overload that draws a fresh one.
    /// </summary>
    public static HpkeContext SetupBaseSenderWith(ReadOnlySpan<byte> ephemeralPrivateKey, ReadOnlySpan<byte> recipientPublicKey, ReadOnlySpan<byte> info, out byte[] encapsulatedKey)
    {
        P256Group.ValidateUncompressed(recipientPublicKey, "pkR");
        byte[] dh = P256Group.DiffieHellmanX(ephemeralPrivateKey, recipientPublicKey, "skE", "pkR");
        encapsulatedKey = P256Group.PublicKeyUncompressed(ephemeralPrivateKey, "skE");
        byte[] sharedSecret = ExtractAndExpand(dh, encapsulatedKey, recipientPublicKey);
        CryptographicOperations.ZeroMemory(dh);
        try
        {
            return KeyScheduleBase(sharedSecret, info);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    /// <summary>
    /// SetupBaseR: decapsulates <paramref name="encapsulatedKey"/> with the recipient key. Throws
    /// <see cref="CryptoFormatException"/> when the encapsulated key is not a valid P-256 point.
    /// </summary>
    public static HpkeContext SetupBaseRecipient(ReadOnlySpan<byte> encapsulatedKey, IHpkeRecipientKey recipient, ReadOnlySpan<byte> info)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        P256Group.ValidateUncompressed(encapsulatedKey, "enc");
        byte[] dh = recipient.DiffieHellmanX(encapsulatedKey);
        byte[] sharedSecret = ExtractAndExpand(dh, encapsulatedKey, recipient.PublicKey);
        CryptographicOperations.ZeroMemory(dh);
        try
        {
            return KeyScheduleBase(sharedSecret, info);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    /// <summary>DeriveKeyPair(ikm) of DHKEM(P-256): the private scalar (32 bytes) and the public key (65 bytes, uncompressed).</summary>
    public static (byte[] PrivateKey, byte[] PublicKey) DeriveKeyPair(ReadOnlySpan<byte> ikm)
    {
        byte[] prk = LabeledExtract(KemSuiteId, [], "dkp_prk"u8, ikm);
        try
        {
            for (int counter = 0; counter < 256; counter++)
            {
                // The P-256 bitmask is 0xff: the candidate is used whole.
                byte[] candidate = LabeledExpand(KemSuiteId, prk, "candidate"u8, [(byte)counter], 32);
                if (P256Scalar.IsCanonical(candidate) && candidate.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
                {
                    return (candidate, P256Group.PublicKeyUncompressed(candidate));
                }

                CryptographicOperations.ZeroMemory(candidate);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
        }

        throw new CryptographicException("DeriveKeyPair: no valid P-256 scalar in 256 candidates");
    }

    internal static byte[] ExtractAndExpand(ReadOnlySpan<byte> dh, ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> recipientPublicKey)
    {
        byte[] kemContext = [.. encapsulatedKey, .. recipientPublicKey];
        byte[] prk = LabeledExtract(KemSuiteId, [], "eae_prk"u8, dh);
        try
        {
            return LabeledExpand(KemSuiteId, prk, "shared_secret"u8, kemContext, HashLength);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
        }
    }

    private static HpkeContext KeyScheduleBase(ReadOnlySpan<byte> sharedSecret, ReadOnlySpan<byte> info)
    {
        byte[] pskIdHash = LabeledExtract(HpkeSuiteId, [], "psk_id_hash"u8, []);
        byte[] infoHash = LabeledExtract(HpkeSuiteId, [], "info_hash"u8, info);
        byte[] context = [ModeBase, .. pskIdHash, .. infoHash];
        byte[] secret = LabeledExtract(HpkeSuiteId, sharedSecret, "secret"u8, []);
        try
        {
            return new HpkeContext(
                LabeledExpand(HpkeSuiteId, secret, "key"u8, context, KeyLength),
                LabeledExpand(HpkeSuiteId, secret, "base_nonce"u8, context, NonceLength),
                LabeledExpand(HpkeSuiteId, secret, "exp"u8, context, HashLength));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    internal static byte[] LabeledExtract(ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> label, ReadOnlySpan<byte> ikm)
    {
        byte[] labeled = [.. VersionLabel, .. suiteId, .. label, .. ikm];
        try
        {
            byte[] prk = new byte[HashLength];
            HKDF.Extract(HashAlgorithmName.SHA256, labeled, salt, prk);
            return prk;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(labeled);
        }
    }

    internal static byte[] LabeledExpand(ReadOnlySpan<byte> suiteId, ReadOnlySpan<byte> prk, ReadOnlySpan<byte> label, ReadOnlySpan<byte> info, int length)
    {
        Span<byte> lengthPrefix = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(lengthPrefix, checked((ushort)length));
        byte[] labeledInfo = [.. lengthPrefix, .. VersionLabel, .. suiteId, .. label, .. info];
        byte[] output = new byte[length];
        HKDF.Expand(HashAlgorithmName.SHA256, prk, output, labeledInfo);
        return output;
    }

    internal static byte[] ContextExport(ReadOnlySpan<byte> exporterSecret, ReadOnlySpan<byte> exporterContext, int length) =>
        LabeledExpand(HpkeSuiteId, exporterSecret, "sec"u8, exporterContext, length);
}
