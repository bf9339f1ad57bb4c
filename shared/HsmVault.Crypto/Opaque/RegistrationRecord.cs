using System.Security.Cryptography;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// What the server stores per user after registration (RFC 9807 RegistrationRecord):
/// client_public_key (33) || masking_key (32) || envelope (64 = nonce || auth_tag).
/// </summary>
public sealed class RegistrationRecord
{
    private static readonly byte[] FakeRecordSalt = "HsmVault-OPAQUE-FakeRecord-v1"u8.ToArray();

    private readonly byte[] _clientPublicKey;
    private readonly byte[] _maskingKey;
    private readonly byte[] _envelope;

    private RegistrationRecord(byte[] clientPublicKey, ProjectivePoint clientPoint, byte[] maskingKey, byte[] envelope)
    {
        _clientPublicKey = clientPublicKey;
        ClientPoint = clientPoint;
        _maskingKey = maskingKey;
        _envelope = envelope;
    }

    /// <summary>The client's static public key, SEC1 compressed (33 bytes).</summary>
    public byte[] ClientPublicKey => (byte[])_clientPublicKey.Clone();

    /// <summary>The key that masks the credential response (32 bytes).</summary>
    public byte[] MaskingKey => (byte[])_maskingKey.Clone();

    /// <summary>envelope_nonce || auth_tag (64 bytes).</summary>
    public byte[] Envelope => (byte[])_envelope.Clone();

    /// <summary>The validated client public key, decoded once.</summary>
    internal ProjectivePoint ClientPoint { get; }

    internal ReadOnlySpan<byte> MaskingKeySpan => _maskingKey;

    internal ReadOnlySpan<byte> EnvelopeSpan => _envelope;

    internal ReadOnlySpan<byte> ClientPublicKeySpan => _clientPublicKey;

    /// <summary>Parses and validates a serialised record (the client public key must be a valid point).</summary>
    public static RegistrationRecord Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != OpaqueSizes.RegistrationRecord)
        {
            throw new CryptoFormatException("registrationRecord", $"must be {OpaqueSizes.RegistrationRecord} bytes, got {bytes.Length}");
        }

        var clientPublicKey = bytes[..OpaqueSizes.PublicKey];
        var point = P256Group.DecodeElement(clientPublicKey, "registrationRecord.clientPublicKey");
        var maskingKey = bytes.Slice(OpaqueSizes.PublicKey, OpaqueSizes.Hash);
        var envelope = bytes[(OpaqueSizes.PublicKey + OpaqueSizes.Hash)..];
        return new RegistrationRecord(clientPublicKey.ToArray(), point, maskingKey.ToArray(), envelope.ToArray());
    }

    /// <summary>
    /// A deterministic fake record for an unknown user (RFC 9807 §6.3.2.2, §10.9): the client key
    /// pair comes from DeriveDiffieHellmanKeyPair of a seed derived from <paramref name="fakeSeed"/>,
    /// the masking key from the same seed, and the envelope is all zero. Deriving
    /// <paramref name="fakeSeed"/> from a server secret and the credential identifier gives the same
    /// unknown user the same fake on every attempt, as a real record would behave.
    /// </summary>
    public static RegistrationRecord CreateFake(ReadOnlySpan<byte> fakeSeed)
    {
        if (fakeSeed.Length < 32)
        {
            throw new CryptoFormatException(nameof(fakeSeed), $"must be at least 32 bytes, got {fakeSeed.Length}");
        }

        var prk = OpaqueKeySchedule.Extract(FakeRecordSalt, fakeSeed);
        var keySeed = OpaqueKeySchedule.Expand(prk, "FakeClientKeySeed"u8, OpaqueSizes.PrivateKey);
        var maskingKey = OpaqueKeySchedule.Expand(prk, "FakeMaskingKey"u8, OpaqueSizes.Hash);
        var privateKey = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(keySeed);
        var point = P256Curve.MultiplyBase(privateKey);
        var publicKey = P256Group.EncodeElement(point, "fakeClientPublicKey");
        CryptographicOperations.ZeroMemory(prk);
        CryptographicOperations.ZeroMemory(keySeed);

        // Re-decode so the cached point is affine, exactly as for a parsed record.
        return new RegistrationRecord(publicKey, P256Group.DecodeElement(publicKey, "fakeClientPublicKey"), maskingKey, new byte[OpaqueSizes.Envelope]);
    }

    /// <summary>client_public_key || masking_key || envelope (129 bytes).</summary>
    public byte[] ToBytes() => [.. _clientPublicKey, .. _maskingKey, .. _envelope];
}
