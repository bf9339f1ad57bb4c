using System.Security.Cryptography;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Oprf;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// The server side of OPAQUE-3DH P256-SHA256 (RFC 9807): registration response, KE2 and the KE3
/// check. It holds no per-user state; everything per login travels in <see cref="ServerLoginState"/>.
/// </summary>
public sealed class OpaqueServer
{
    private readonly OpaqueConfiguration _configuration;
    private readonly IServerAkeKey _akeKey;
    private readonly IOprfSeed _oprfSeed;
    private readonly IRandomSource _random;
    private readonly byte[] _serverPublicKey;

    public OpaqueServer(OpaqueConfiguration configuration, IServerAkeKey akeKey, IOprfSeed oprfSeed, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(akeKey);
        ArgumentNullException.ThrowIfNull(oprfSeed);
        ArgumentNullException.ThrowIfNull(random);
        configuration.Validate();
        _configuration = configuration;
        _akeKey = akeKey;
        _oprfSeed = oprfSeed;
        _random = random;
        _serverPublicKey = akeKey.PublicKey;
        P256Group.ValidateElement(_serverPublicKey, "akeKey.PublicKey");
    }

    /// <summary>CreateRegistrationResponse: evaluated_message || server_public_key (66 bytes).</summary>
    public byte[] CreateRegistrationResponse(ReadOnlySpan<byte> registrationRequest, ReadOnlySpan<byte> credentialIdentifier)
    {
        if (registrationRequest.Length != OpaqueSizes.RegistrationRequest)
        {
            throw new CryptoFormatException(nameof(registrationRequest), $"must be {OpaqueSizes.RegistrationRequest} bytes, got {registrationRequest.Length}");
        }

        var oprfKey = OpaqueKeySchedule.DeriveOprfKey(_oprfSeed, credentialIdentifier);
        var blinded = P256Group.DecodeElement(registrationRequest, "registrationRequest.blindedMessage");
        var evaluated = P256Group.EncodeElement(P256Curve.Multiply(oprfKey, blinded), "evaluatedMessage");
        return [.. evaluated, .. _serverPublicKey];
    }

    /// <summary>
    /// GenerateKE2 for a real record, or for a <see cref="RegistrationRecord.CreateFake"/> record
    /// when the user is unknown (the output has the same length and format either way).
    /// Empty identities default to the public keys.
    /// </summary>
    public byte[] GenerateKE2(ReadOnlySpan<byte> ke1, RegistrationRecord record, ReadOnlySpan<byte> credentialIdentifier, ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> clientIdentity, out ServerLoginState state)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (ke1.Length != OpaqueSizes.KE1)
        {
            throw new CryptoFormatException(nameof(ke1), $"must be {OpaqueSizes.KE1} bytes, got {ke1.Length}");
        }

        OpaqueKeySchedule.CheckIdentity(serverIdentity, nameof(serverIdentity));
        OpaqueKeySchedule.CheckIdentity(clientIdentity, nameof(clientIdentity));
        var blinded = P256Group.DecodeElement(ke1[..OpaqueSizes.PublicKey], "ke1.blindedMessage");
        var clientKeyshareBytes = ke1[(OpaqueSizes.PublicKey + OpaqueSizes.Nonce)..];
        var clientKeyshare = P256Group.DecodeElement(clientKeyshareBytes, "ke1.clientPublicKeyshare");

        // Draw randomness in the RFC's order: masking nonce, server nonce, keyshare seed.
        var credentialResponse = new byte[OpaqueSizes.CredentialResponse];
        var maskingNonce = credentialResponse.AsSpan(OpaqueSizes.PublicKey, OpaqueSizes.Nonce);
        _random.Fill(maskingNonce);
        var serverNonce = new byte[OpaqueSizes.Nonce];
        _random.Fill(serverNonce);
        var keyshareSeed = new byte[OpaqueSizes.PrivateKey];
        _random.Fill(keyshareSeed);
        var serverSecret = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(keyshareSeed);
        CryptographicOperations.ZeroMemory(keyshareSeed);

        // All products first, then one batched encoding (a single field inversion for all of them).
        var oprfKey = OpaqueKeySchedule.DeriveOprfKey(_oprfSeed, credentialIdentifier);
        var software = _akeKey as SoftwareAkeKey;
        Span<ProjectivePoint> points = stackalloc ProjectivePoint[software is null ? 4 : 5];
        points[0] = P256Curve.Multiply(oprfKey, blinded);
        points[1] = P256Curve.MultiplyBase(serverSecret);
        points[2] = P256Curve.Multiply(serverSecret, clientKeyshare);
        points[3] = P256Curve.Multiply(serverSecret, record.ClientPoint);
        if (software is not null)
        {
            points[4] = software.Multiply(clientKeyshare);
        }

        oprfKey = default;
        serverSecret = default;
        var encoded = new byte[points.Length * OpaqueSizes.PublicKey];
        if (!P256Curve.TryEncodeBatch(points, encoded))
        {
            throw new CryptographicException("a KE2 product is the identity; the group arithmetic is broken");
        }

        points.Clear();
        var encodedSpan = encoded.AsSpan();
        encodedSpan[..OpaqueSizes.PublicKey].CopyTo(credentialResponse);
        var serverKeyshare = encodedSpan.Slice(OpaqueSizes.PublicKey, OpaqueSizes.PublicKey).ToArray();
        var dh1 = encodedSpan.Slice(2 * OpaqueSizes.PublicKey, OpaqueSizes.PublicKey);
        var dh3 = encodedSpan.Slice(3 * OpaqueSizes.PublicKey, OpaqueSizes.PublicKey);
        var dh2 = software is not null
            ? encodedSpan.Slice(4 * OpaqueSizes.PublicKey, OpaqueSizes.PublicKey).ToArray()
            : _akeKey.DiffieHellman(clientKeyshareBytes);
        if (dh2.Length != OpaqueSizes.PublicKey)
        {
            throw new CryptographicException($"IServerAkeKey.DiffieHellman returned {dh2.Length} bytes, expected {OpaqueSizes.PublicKey}");
        }

        var pad = OpaqueKeySchedule.CredentialResponsePad(record.MaskingKeySpan, maskingNonce);
        var masked = credentialResponse.AsSpan(OpaqueSizes.PublicKey + OpaqueSizes.Nonce);
        OpaqueKeySchedule.Xor(pad, [.. _serverPublicKey, .. record.EnvelopeSpan], masked);

        var serverId = OpaqueKeySchedule.IdentityOrDefault(serverIdentity, _serverPublicKey);
        var clientId = OpaqueKeySchedule.IdentityOrDefault(clientIdentity, record.ClientPublicKeySpan);
        var preamble = OpaqueKeySchedule.Preamble(_configuration.Context, clientId, ke1, serverId, credentialResponse, serverNonce, serverKeyshare);
        byte[] ikm = [.. dh1, .. dh2, .. dh3];
        var keys = OpaqueKeySchedule.DeriveKeys(ikm, preamble);
        CryptographicOperations.ZeroMemory(ikm);
        CryptographicOperations.ZeroMemory(encoded);
        CryptographicOperations.ZeroMemory(dh2);

        var serverMac = OpaqueKeySchedule.Mac(keys.ServerMacKey, keys.PreambleHash);
        var expectedClientMac = OpaqueKeySchedule.ClientMac(keys.ClientMacKey, preamble, serverMac);
        keys.Clear();
        state = new ServerLoginState(expectedClientMac, keys.SessionKey);
        return [.. credentialResponse, .. serverNonce, .. serverKeyshare, .. serverMac];
    }

    /// <summary>Checks KE3 in constant time; returns the session key (32 bytes) or throws <see cref="OpaqueAuthenticationException"/>.</summary>
    public byte[] ServerFinish(ServerLoginState state, ReadOnlySpan<byte> ke3)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (ke3.Length != OpaqueSizes.KE3)
        {
            throw new CryptoFormatException(nameof(ke3), $"must be {OpaqueSizes.KE3} bytes, got {ke3.Length}");
        }

        if (!CryptographicOperations.FixedTimeEquals(state.ExpectedClientMac, ke3))
        {
            throw new OpaqueAuthenticationException("KE3 client MAC does not verify (wrong password or tampered message)");
        }

        return state.SessionKey.ToArray();
    }
}
