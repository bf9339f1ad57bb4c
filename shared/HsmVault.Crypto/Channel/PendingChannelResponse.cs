using System.Security.Cryptography;
using HsmVault.Crypto.Hpke;

namespace HsmVault.Crypto.Channel;

/// <summary>
/// What a client keeps of one sealed request: the secret to open the fleet's response to it.
/// A response made for any other request, or altered in any byte, does not open.
/// </summary>
public sealed class PendingChannelResponse : IDisposable
{
    private readonly byte[] _encapsulatedKey;
    private readonly byte[] _secret;

    internal PendingChannelResponse(byte[] encapsulatedKey, byte[] secret)
    {
        _encapsulatedKey = encapsulatedKey;
        _secret = secret;
    }

    /// <summary>Opens response_nonce || ciphertext || tag. False, with no plaintext, when it does not authenticate.</summary>
    public bool TryOpen(ReadOnlySpan<byte> sealedResponse, out byte[] plaintext)
    {
        plaintext = [];
        if (sealedResponse.Length < VaultChannel.MinimumResponseLength)
        {
            return false;
        }

        Span<byte> key = stackalloc byte[HpkeP256.KeyLength];
        Span<byte> nonce = stackalloc byte[HpkeP256.NonceLength];
        VaultChannel.DeriveResponseKey(_encapsulatedKey, _secret, sealedResponse[..VaultChannel.ResponseNonceLength], key, nonce);
        ReadOnlySpan<byte> body = sealedResponse[VaultChannel.ResponseNonceLength..];
        int length = body.Length - HpkeP256.TagLength;
        byte[] output = new byte[length];
        try
        {
            using var aes = new AesGcm(key, HpkeP256.TagLength);
            aes.Decrypt(nonce, body[..length], body[length..], output, VaultChannel.AssociatedData);
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        plaintext = output;
        return true;
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_secret);
}
