using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Crypto.Hpke;

namespace HsmVault.Crypto.Channel;

/// <summary>
/// The client-to-enclave channel: each request is HPKE base-mode sealed (RFC 9180,
/// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM) to the fleet's channel key, with the
/// user id bound into the HPKE info; the response is sealed under a key exported from that
/// request's context, the way Oblivious HTTP does it (RFC 9458 section 4.4). Only the fleet can
/// open a request or make a response to it, and only the client that sent the request can
/// open the response; a request moved to another user, or a response moved to another request,
/// does not open.
/// </summary>
public static class VaultChannel
{
    /// <summary>Bytes of the random response nonce: max(Nn, Nk) as in RFC 9458.</summary>
    public const int ResponseNonceLength = 16;

    /// <summary>The shortest possible sealed response: nonce and tag around an empty plaintext.</summary>
    public const int MinimumResponseLength = ResponseNonceLength + HpkeP256.TagLength;

    /// <summary>Prefix of the HPKE info; the user id follows, length-prefixed.</summary>
    public static ReadOnlySpan<byte> InfoLabel => "HsmVault-v1 channel request"u8;

    /// <summary>Exporter context for the response secret.</summary>
    public static ReadOnlySpan<byte> ResponseExportLabel => "HsmVault-v1 channel response"u8;

    /// <summary>HKDF-Expand info for the response AEAD key.</summary>
    public static ReadOnlySpan<byte> ResponseKeyLabel => "key"u8;

    /// <summary>HKDF-Expand info for the response AEAD nonce.</summary>
    public static ReadOnlySpan<byte> ResponseNonceLabel => "nonce"u8;

    /// <summary>Associated data of the sealed request and of the sealed response (empty: all binding is in info and the exported key).</summary>
    public static ReadOnlySpan<byte> AssociatedData => [];

    /// <summary>The HPKE info for a request about <paramref name="userId"/>: label || u32_be(len(user_id)) || user_id.</summary>
    public static byte[] Info(ReadOnlySpan<byte> userId)
    {
        byte[] info = new byte[InfoLabel.Length + 4 + userId.Length];
        InfoLabel.CopyTo(info);
        BinaryPrimitives.WriteUInt32BigEndian(info.AsSpan(InfoLabel.Length, 4), (uint)userId.Length);
        userId.CopyTo(info.AsSpan(InfoLabel.Length + 4));
        return info;
    }

    /// <summary>
    /// Seals <paramref name="plaintext"/> for the fleet whose channel key is
    /// <paramref name="channelPublicKey"/> (65 bytes, uncompressed). Returns the encapsulated key,
    /// the ciphertext, and the one object that can open the fleet's response.
    /// </summary>
    public static PendingChannelResponse SealRequest(
        ReadOnlySpan<byte> channelPublicKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> plaintext, IRandomSource random,
        out byte[] encapsulatedKey, out byte[] ciphertext)
    {
        using HpkeContext context = HpkeP256.SetupBaseSender(channelPublicKey, Info(userId), random, out encapsulatedKey);
        ciphertext = context.Seal(AssociatedData, plaintext);
        return new PendingChannelResponse(encapsulatedKey, context.Export(ResponseExportLabel, HpkeP256.KeyLength));
    }

    /// <summary>
    /// Opens a request inside the enclave. False when the encapsulated key is not a valid point,
    /// or the ciphertext does not authenticate for this user id under this channel key; on
    /// success <paramref name="responder"/> seals the one response to it.
    /// </summary>
    public static bool TryOpenRequest(
        IHpkeRecipientKey channelKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> ciphertext,
        out byte[] plaintext, out ChannelResponder? responder)
    {
        ArgumentNullException.ThrowIfNull(channelKey);
        plaintext = [];
        responder = null;
        HpkeContext context;
        try
        {
            context = HpkeP256.SetupBaseRecipient(encapsulatedKey, channelKey, Info(userId));
        }
        catch (ArgumentException)
        {
            return false;
        }

        using (context)
        {
            if (!context.TryOpen(AssociatedData, ciphertext, out plaintext))
            {
                return false;
            }

            responder = new ChannelResponder(encapsulatedKey.ToArray(), context.Export(ResponseExportLabel, HpkeP256.KeyLength));
            return true;
        }
    }

    // RFC 9458 section 4.4: salt = enc || response_nonce; prk = Extract(salt, secret); key and nonce expanded from prk.
    internal static void DeriveResponseKey(ReadOnlySpan<byte> encapsulatedKey, ReadOnlySpan<byte> secret, ReadOnlySpan<byte> responseNonce, Span<byte> key, Span<byte> nonce)
    {
        byte[] salt = [.. encapsulatedKey, .. responseNonce];
        byte[] prk = new byte[HpkeP256.HashLength];
        HKDF.Extract(HashAlgorithmName.SHA256, secret, salt, prk);
        try
        {
            HKDF.Expand(HashAlgorithmName.SHA256, prk, key, ResponseKeyLabel);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, nonce, ResponseNonceLabel);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
        }
    }
}
