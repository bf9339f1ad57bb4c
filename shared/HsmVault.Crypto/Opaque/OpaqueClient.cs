using System.Security.Cryptography;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Oprf;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// The client side of OPAQUE-3DH P256-SHA256 (RFC 9807): registration request and finalisation,
/// KE1 and KE3. Randomness is drawn from the injected <see cref="IRandomSource"/> in the order the
/// RFC lists it (blind; envelope nonce; or blind, client nonce, keyshare seed).
/// </summary>
public sealed class OpaqueClient
{
    private readonly OpaqueConfiguration _configuration;
    private readonly IRandomSource _random;

    public OpaqueClient(OpaqueConfiguration configuration, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(random);
        configuration.Validate();
        _configuration = configuration;
        _random = random;
    }

    /// <summary>CreateRegistrationRequest: the blinded password (33 bytes).</summary>
    public byte[] CreateRegistrationRequest(ReadOnlySpan<byte> password, out ClientRegistrationState state)
    {
        var (blinded, blind) = BlindPassword(password);
        state = new ClientRegistrationState(password.ToArray(), blind);
        return blinded;
    }

    /// <summary>FinalizeRegistrationRequest: the record to upload (129 bytes) and the export key.</summary>
    public RegistrationResult FinalizeRegistration(ClientRegistrationState state, ReadOnlySpan<byte> registrationResponse, ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> clientIdentity)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (registrationResponse.Length != OpaqueSizes.RegistrationResponse)
        {
            throw new CryptoFormatException(nameof(registrationResponse), $"must be {OpaqueSizes.RegistrationResponse} bytes, got {registrationResponse.Length}");
        }

        OpaqueKeySchedule.CheckIdentity(serverIdentity, nameof(serverIdentity));
        OpaqueKeySchedule.CheckIdentity(clientIdentity, nameof(clientIdentity));
        var evaluated = registrationResponse[..OpaqueSizes.PublicKey];
        var serverPublicKey = registrationResponse[OpaqueSizes.PublicKey..];
        P256Group.ValidateElement(serverPublicKey, "registrationResponse.serverPublicKey");

        var oprfOutput = FinalizeOprf(state.Password, state.Blind, evaluated, "registrationResponse.evaluatedMessage");
        var randomizedPassword = OpaqueKeySchedule.RandomizePassword(oprfOutput, _configuration.Ksf);
        CryptographicOperations.ZeroMemory(oprfOutput);

        var envelopeNonce = new byte[OpaqueSizes.Nonce];
        _random.Fill(envelopeNonce);
        var maskingKey = OpaqueKeySchedule.MaskingKey(randomizedPassword);
        var (authKey, exportKey, seed) = OpaqueKeySchedule.EnvelopeKeys(randomizedPassword, envelopeNonce);
        CryptographicOperations.ZeroMemory(randomizedPassword);
        var clientPrivateKey = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(seed);
        CryptographicOperations.ZeroMemory(seed);
        var clientPublicKey = OpaqueKeySchedule.PublicKeyOf(clientPrivateKey);
        var credentials = OpaqueKeySchedule.CleartextCredentials(serverPublicKey, clientPublicKey, serverIdentity, clientIdentity);
        var authTag = OpaqueKeySchedule.EnvelopeTag(authKey, envelopeNonce, credentials);
        CryptographicOperations.ZeroMemory(authKey);

        byte[] record = [.. clientPublicKey, .. maskingKey, .. envelopeNonce, .. authTag];
        CryptographicOperations.ZeroMemory(maskingKey);
        return new RegistrationResult(record, exportKey, serverPublicKey.ToArray());
    }

    /// <summary>GenerateKE1: blinded_message || client_nonce || client_public_keyshare (98 bytes).</summary>
    public byte[] GenerateKE1(ReadOnlySpan<byte> password, out ClientLoginState state)
    {
        var (blinded, blind) = BlindPassword(password);
        var clientNonce = new byte[OpaqueSizes.Nonce];
        _random.Fill(clientNonce);
        var keyshareSeed = new byte[OpaqueSizes.PrivateKey];
        _random.Fill(keyshareSeed);
        var clientSecret = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(keyshareSeed);
        CryptographicOperations.ZeroMemory(keyshareSeed);
        var clientKeyshare = OpaqueKeySchedule.PublicKeyOf(clientSecret);
        byte[] ke1 = [.. blinded, .. clientNonce, .. clientKeyshare];
        state = new ClientLoginState(password.ToArray(), blind, clientSecret, ke1);
        return ke1;
    }

    /// <summary>
    /// GenerateKE3: recovers the envelope, checks the server MAC and returns KE3 with the session
    /// and export keys. Throws <see cref="OpaqueAuthenticationException"/> for a wrong password or
    /// a tampered KE2, and <see cref="CryptoFormatException"/> for a malformed one.
    /// </summary>
    public LoginResult GenerateKE3(ClientLoginState state, ReadOnlySpan<byte> ke2, ReadOnlySpan<byte> serverIdentity, ReadOnlySpan<byte> clientIdentity)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (ke2.Length != OpaqueSizes.KE2)
        {
            throw new CryptoFormatException(nameof(ke2), $"must be {OpaqueSizes.KE2} bytes, got {ke2.Length}");
        }

        OpaqueKeySchedule.CheckIdentity(serverIdentity, nameof(serverIdentity));
        OpaqueKeySchedule.CheckIdentity(clientIdentity, nameof(clientIdentity));
        var credentialResponse = ke2[..OpaqueSizes.CredentialResponse];
        var evaluated = credentialResponse[..OpaqueSizes.PublicKey];
        var maskingNonce = credentialResponse.Slice(OpaqueSizes.PublicKey, OpaqueSizes.Nonce);
        var maskedResponse = credentialResponse[(OpaqueSizes.PublicKey + OpaqueSizes.Nonce)..];
        var serverNonce = ke2.Slice(OpaqueSizes.CredentialResponse, OpaqueSizes.Nonce);
        var serverKeyshareBytes = ke2.Slice(OpaqueSizes.CredentialResponse + OpaqueSizes.Nonce, OpaqueSizes.PublicKey);
        var serverMac = ke2[(OpaqueSizes.CredentialResponse + OpaqueSizes.Nonce + OpaqueSizes.PublicKey)..];
        var serverKeyshare = P256Group.DecodeElement(serverKeyshareBytes, "ke2.serverPublicKeyshare");

        // RecoverCredentials.
        var oprfOutput = FinalizeOprf(state.Password, state.Blind, evaluated, "ke2.evaluatedMessage");
        var randomizedPassword = OpaqueKeySchedule.RandomizePassword(oprfOutput, _configuration.Ksf);
        CryptographicOperations.ZeroMemory(oprfOutput);
        var maskingKey = OpaqueKeySchedule.MaskingKey(randomizedPassword);
        var pad = OpaqueKeySchedule.CredentialResponsePad(maskingKey, maskingNonce);
        CryptographicOperations.ZeroMemory(maskingKey);
        var unmasked = new byte[OpaqueSizes.MaskedResponse];
        OpaqueKeySchedule.Xor(pad, maskedResponse, unmasked);
        var serverPublicKey = unmasked.AsSpan(0, OpaqueSizes.PublicKey);
        var envelopeNonce = unmasked.AsSpan(OpaqueSizes.PublicKey, OpaqueSizes.Nonce);
        var envelopeTag = unmasked.AsSpan(OpaqueSizes.PublicKey + OpaqueSizes.Nonce);

        var (authKey, exportKey, seed) = OpaqueKeySchedule.EnvelopeKeys(randomizedPassword, envelopeNonce);
        CryptographicOperations.ZeroMemory(randomizedPassword);
        var clientPrivateKey = OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(seed);
        CryptographicOperations.ZeroMemory(seed);
        var clientPublicKey = OpaqueKeySchedule.PublicKeyOf(clientPrivateKey);
        var credentials = OpaqueKeySchedule.CleartextCredentials(serverPublicKey, clientPublicKey, serverIdentity, clientIdentity);
        var expectedTag = OpaqueKeySchedule.EnvelopeTag(authKey, envelopeNonce, credentials);
        CryptographicOperations.ZeroMemory(authKey);
        if (!CryptographicOperations.FixedTimeEquals(expectedTag, envelopeTag))
        {
            CryptographicOperations.ZeroMemory(exportKey);
            throw new OpaqueAuthenticationException("envelope does not verify (wrong password or tampered KE2)");
        }

        // Only now is the unmasked server key known to come from registration; validate it as a point.
        var serverPoint = P256Group.DecodeElement(serverPublicKey, "ke2.maskedResponse.serverPublicKey");

        // AuthClientFinalize.
        var serverId = OpaqueKeySchedule.IdentityOrDefault(serverIdentity, serverPublicKey);
        var clientId = OpaqueKeySchedule.IdentityOrDefault(clientIdentity, clientPublicKey);
        var preamble = OpaqueKeySchedule.Preamble(_configuration.Context, clientId, state.KE1, serverId, credentialResponse, serverNonce, serverKeyshareBytes);
        var clientSecret = state.ClientSecret;
        var dh1 = P256Group.EncodeElement(P256Curve.Multiply(clientSecret, serverKeyshare), "dh1");
        var dh2 = P256Group.EncodeElement(P256Curve.Multiply(clientSecret, serverPoint), "dh2");
        var dh3 = P256Group.EncodeElement(P256Curve.Multiply(clientPrivateKey, serverKeyshare), "dh3");
        clientPrivateKey = default;
        byte[] ikm = [.. dh1, .. dh2, .. dh3];
        var keys = OpaqueKeySchedule.DeriveKeys(ikm, preamble);
        CryptographicOperations.ZeroMemory(ikm);
        CryptographicOperations.ZeroMemory(dh1);
        CryptographicOperations.ZeroMemory(dh2);
        CryptographicOperations.ZeroMemory(dh3);

        var expectedServerMac = OpaqueKeySchedule.Mac(keys.ServerMacKey, keys.PreambleHash);
        if (!CryptographicOperations.FixedTimeEquals(expectedServerMac, serverMac))
        {
            keys.Clear();
            CryptographicOperations.ZeroMemory(keys.SessionKey);
            CryptographicOperations.ZeroMemory(exportKey);
            throw new OpaqueAuthenticationException("KE2 server MAC does not verify (tampered KE2 or wrong server)");
        }

        var clientMac = OpaqueKeySchedule.ClientMac(keys.ClientMacKey, preamble, expectedServerMac);
        keys.Clear();
        return new LoginResult(clientMac, keys.SessionKey, exportKey, serverPublicKey.ToArray());
    }

    private (byte[] Blinded, U256 Blind) BlindPassword(ReadOnlySpan<byte> password)
    {
        if (password.IsEmpty)
        {
            throw new CryptoFormatException(nameof(password), "must not be empty");
        }

        Span<byte> scratch = stackalloc byte[P256Group.ScalarLength];
        var blind = P256Group.RandomScalar(_random, scratch);
        scratch.Clear();
        return (P256Sha256Oprf.BlindWith(password, blind), blind);
    }

    private static byte[] FinalizeOprf(ReadOnlySpan<byte> password, in U256 blind, ReadOnlySpan<byte> evaluated, string field)
    {
        P256Group.ValidateElement(evaluated, field);
        return P256Sha256Oprf.Finalize(password, blind, evaluated);
    }
}
