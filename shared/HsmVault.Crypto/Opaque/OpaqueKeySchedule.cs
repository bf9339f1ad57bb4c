using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Oprf;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// The key derivations of RFC 9807 shared by client and server: HKDF/HMAC wrappers, key-pair
/// derivation, cleartext credentials, the envelope keys, the preamble and the 3DH key schedule.
/// Internal so tests can check every intermediate value against the published vectors.
/// </summary>
internal static class OpaqueKeySchedule
{
    private const int MaxIdentityLength = ushort.MaxValue;

    public static byte[] Extract(ReadOnlySpan<byte> salt, ReadOnlySpan<byte> ikm)
    {
        var prk = new byte[OpaqueSizes.Hash];
        HKDF.Extract(HashAlgorithmName.SHA256, ikm, salt, prk);
        return prk;
    }

    public static byte[] Expand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> info, int length)
    {
        var output = new byte[length];
        HKDF.Expand(HashAlgorithmName.SHA256, prk, output, info);
        return output;
    }

    public static byte[] Expand(ReadOnlySpan<byte> prk, ReadOnlySpan<byte> infoPrefix, ReadOnlySpan<byte> infoSuffix, int length)
    {
        Span<byte> info = stackalloc byte[infoPrefix.Length + infoSuffix.Length];
        infoPrefix.CopyTo(info);
        infoSuffix.CopyTo(info[infoPrefix.Length..]);
        return Expand(prk, info, length);
    }

    public static byte[] Mac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message) => HMACSHA256.HashData(key, message);

    public static byte[] Hash(ReadOnlySpan<byte> message) => SHA256.HashData(message);

    /// <summary>Expand-Label(secret, "OPAQUE-" + label, context, length) of RFC 9807 §6.4.2.</summary>
    public static byte[] ExpandLabel(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> label, ReadOnlySpan<byte> context, int length)
    {
        ReadOnlySpan<byte> prefix = "OPAQUE-"u8;
        Span<byte> info = stackalloc byte[2 + 1 + prefix.Length + label.Length + 1 + context.Length];
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)length);
        info[2] = (byte)(prefix.Length + label.Length);
        prefix.CopyTo(info[3..]);
        label.CopyTo(info[(3 + prefix.Length)..]);
        info[3 + prefix.Length + label.Length] = (byte)context.Length;
        context.CopyTo(info[(4 + prefix.Length + label.Length)..]);
        return Expand(secret, info, length);
    }

    /// <summary>DeriveDiffieHellmanKeyPair(seed) = OPRF DeriveKeyPair(seed, "OPAQUE-DeriveDiffieHellmanKeyPair").</summary>
    public static U256 DeriveDiffieHellmanPrivateKey(ReadOnlySpan<byte> seed) =>
        P256Sha256Oprf.DeriveScalar(seed, "OPAQUE-DeriveDiffieHellmanKeyPair"u8);

    public static byte[] PublicKeyOf(in U256 privateKey) => P256Group.EncodeElement(P256Curve.MultiplyBase(privateKey), "publicKey");

    /// <summary>The per-user OPRF key: DeriveKeyPair(Expand(oprf_seed, credential_identifier || "OprfKey", Nok), "OPAQUE-DeriveKeyPair").</summary>
    public static U256 DeriveOprfKey(IOprfSeed oprfSeed, ReadOnlySpan<byte> credentialIdentifier)
    {
        Span<byte> info = stackalloc byte[credentialIdentifier.Length + 7];
        credentialIdentifier.CopyTo(info);
        "OprfKey"u8.CopyTo(info[credentialIdentifier.Length..]);
        var seed = oprfSeed.Expand(info, OpaqueSizes.PrivateKey);
        if (seed.Length != OpaqueSizes.PrivateKey)
        {
            throw new CryptographicException($"IOprfSeed.Expand returned {seed.Length} bytes, expected {OpaqueSizes.PrivateKey}");
        }

        try
        {
            return P256Sha256Oprf.DeriveScalar(seed, "OPAQUE-DeriveKeyPair"u8);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>randomized_password = Extract("", oprf_output || Stretch(oprf_output)).</summary>
    public static byte[] RandomizePassword(ReadOnlySpan<byte> oprfOutput, IKeyStretchingFunction ksf)
    {
        var stretched = ksf.Stretch(oprfOutput);
        var ikm = new byte[oprfOutput.Length + stretched.Length];
        try
        {
            oprfOutput.CopyTo(ikm);
            stretched.CopyTo(ikm, oprfOutput.Length);
            return Extract(ReadOnlySpan<byte>.Empty, ikm);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(stretched);
            CryptographicOperations.ZeroMemory(ikm);
        }
    }

    /// <summary>The envelope keys for one nonce: auth_key, export_key and the client key-pair seed.</summary>
    public static (byte[] AuthKey, byte[] ExportKey, byte[] Seed) EnvelopeKeys(ReadOnlySpan<byte> randomizedPassword, ReadOnlySpan<byte> envelopeNonce) => (
        Expand(randomizedPassword, envelopeNonce, "AuthKey"u8, OpaqueSizes.Hash),
        Expand(randomizedPassword, envelopeNonce, "ExportKey"u8, OpaqueSizes.Hash),
        Expand(randomizedPassword, envelopeNonce, "PrivateKey"u8, OpaqueSizes.PrivateKey));

    public static byte[] MaskingKey(ReadOnlySpan<byte> randomizedPassword) => Expand(randomizedPassword, "MaskingKey"u8, OpaqueSizes.Hash);

    public static byte[] CredentialResponsePad(ReadOnlySpan<byte> maskingKey, ReadOnlySpan<byte> maskingNonce) =>
        Expand(maskingKey, maskingNonce, "CredentialResponsePad"u8, OpaqueSizes.MaskedResponse);

    /// <summary>Identity or, when empty, the default (the party's public key).</summary>
    public static ReadOnlySpan<byte> IdentityOrDefault(ReadOnlySpan<byte> identity, ReadOnlySpan<byte> publicKey) =>
        identity.IsEmpty ? publicKey : identity;

    public static void CheckIdentity(ReadOnlySpan<byte> identity, string field)
    {
        if (identity.Length > MaxIdentityLength)
        {
            throw new CryptoFormatException(field, $"must be at most {MaxIdentityLength} bytes, got {identity.Length}");
        }
    }

    /// <summary>CleartextCredentials: server_public_key || len || server_identity || len || client_identity.</summary>
    public static byte[] CleartextCredentials(ReadOnlySpan<byte> serverPublicKey, ReadOnlySpan<byte> clientPublicKey, ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> clientIdentity)
    {
        var server = IdentityOrDefault(serverIdentity, serverPublicKey);
        var client = IdentityOrDefault(clientIdentity, clientPublicKey);
        var result = new byte[serverPublicKey.Length + 2 + server.Length + 2 + client.Length];
        var span = result.AsSpan();
        serverPublicKey.CopyTo(span);
        span = span[serverPublicKey.Length..];
        WriteWithLength(ref span, server);
        WriteWithLength(ref span, client);
        return result;
    }

    /// <summary>The envelope MAC: MAC(auth_key, envelope_nonce || cleartext_credentials).</summary>
    public static byte[] EnvelopeTag(ReadOnlySpan<byte> authKey, ReadOnlySpan<byte> envelopeNonce, ReadOnlySpan<byte> cleartextCredentials)
    {
        var message = new byte[envelopeNonce.Length + cleartextCredentials.Length];
        envelopeNonce.CopyTo(message);
        cleartextCredentials.CopyTo(message.AsSpan(envelopeNonce.Length));
        return Mac(authKey, message);
    }

    /// <summary>
    /// Preamble = "OPAQUEv1-" || len || context || len || client_identity || ke1 || len ||
    /// server_identity || credential_response || server_nonce || server_public_keyshare.
    /// </summary>
    public static byte[] Preamble(ReadOnlySpan<byte> context, ReadOnlySpan<byte> clientIdentity, ReadOnlySpan<byte> ke1, ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> credentialResponse, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> serverPublicKeyshare)
    {
        ReadOnlySpan<byte> label = "OPAQUEv1-"u8;
        var result = new byte[label.Length + 2 + context.Length + 2 + clientIdentity.Length + ke1.Length + 2 + serverIdentity.Length + credentialResponse.Length + serverNonce.Length + serverPublicKeyshare.Length];
        var span = result.AsSpan();
        Append(ref span, label);
        WriteWithLength(ref span, context);
        WriteWithLength(ref span, clientIdentity);
        Append(ref span, ke1);
        WriteWithLength(ref span, serverIdentity);
        Append(ref span, credentialResponse);
        Append(ref span, serverNonce);
        Append(ref span, serverPublicKeyshare);
        return result;
    }

    /// <summary>The 3DH key schedule (RFC 9807 §6.4.2): handshake secret, server and client MAC keys, session key.</summary>
    public static SessionKeys DeriveKeys(ReadOnlySpan<byte> ikm, ReadOnlySpan<byte> preamble)
    {
        var prk = Extract(ReadOnlySpan<byte>.Empty, ikm);
        var preambleHash = Hash(preamble);
        var handshakeSecret = ExpandLabel(prk, "HandshakeSecret"u8, preambleHash, OpaqueSizes.Hash);
        var sessionKey = ExpandLabel(prk, "SessionKey"u8, preambleHash, OpaqueSizes.Hash);
        var serverMacKey = ExpandLabel(handshakeSecret, "ServerMAC"u8, ReadOnlySpan<byte>.Empty, OpaqueSizes.Hash);
        var clientMacKey = ExpandLabel(handshakeSecret, "ClientMAC"u8, ReadOnlySpan<byte>.Empty, OpaqueSizes.Hash);
        CryptographicOperations.ZeroMemory(prk);
        return new SessionKeys(handshakeSecret, serverMacKey, clientMacKey, sessionKey, preambleHash);
    }

    /// <summary>MAC(Km3, Hash(preamble || server_mac)).</summary>
    public static byte[] ClientMac(ReadOnlySpan<byte> clientMacKey, ReadOnlySpan<byte> preamble, ReadOnlySpan<byte> serverMac)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(preamble);
        hash.AppendData(serverMac);
        return Mac(clientMacKey, hash.GetHashAndReset());
    }

    public static void Xor(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)(a[i] ^ b[i]);
        }
    }

    private static void Append(ref Span<byte> span, ReadOnlySpan<byte> value)
    {
        value.CopyTo(span);
        span = span[value.Length..];
    }

    private static void WriteWithLength(ref Span<byte> span, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value.Length);
        value.CopyTo(span[2..]);
        span = span[(2 + value.Length)..];
    }
}
