using System.Security.Cryptography;
using HsmVault.Crypto.Hpke;

namespace HsmVault.Crypto.Channel;

/// <summary>
/// What the enclave keeps of one opened request: the secret to seal the response to it, so that
/// only the client that sent the request can read the answer and no one else can make one.
/// </summary>
public sealed class ChannelResponder : IDisposable
{
    private readonly byte[] _encapsulatedKey;
    private readonly byte[] _secret;

    internal ChannelResponder(byte[] encapsulatedKey, byte[] secret)
    {
        _encapsulatedKey = encapsulatedKey;
        _secret = secret;
    }

    /// <summary>Seals <paramref name="plaintext"/>: a fresh response nonce from <paramref name="random"/>, then AES-128-GCM. Returns response_nonce || ciphertext || tag.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        byte[] output = new byte[VaultChannel.ResponseNonceLength + plaintext.Length + HpkeP256.TagLength];
        Span<byte> responseNonce = output.AsSpan(0, VaultChannel.ResponseNonceLength);
        random.Fill(responseNonce);
        Span<byte> key = stackalloc byte[HpkeP256.KeyLength];
        Span<byte> nonce = stackalloc byte[HpkeP256.NonceLength];
        VaultChannel.DeriveResponseKey(_encapsulatedKey, _secret, responseNonce, key, nonce);
        try
        {
            using var aes = new AesGcm(key, HpkeP256.TagLength);
            Span<byte> body = output.AsSpan(VaultChannel.ResponseNonceLength);
            aes.Encrypt(nonce, plaintext, body[..plaintext.Length], body[plaintext.Length..], VaultChannel.AssociatedData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        return output;
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_secret);
}
