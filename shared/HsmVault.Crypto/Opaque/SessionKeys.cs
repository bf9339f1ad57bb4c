using System.Security.Cryptography;

namespace HsmVault.Crypto.Opaque;

/// <summary>The outputs of the 3DH key schedule; <see cref="Clear"/> zeroes them.</summary>
internal sealed record SessionKeys(byte[] HandshakeSecret, byte[] ServerMacKey, byte[] ClientMacKey, byte[] SessionKey, byte[] PreambleHash)
{
    public void Clear()
    {
        CryptographicOperations.ZeroMemory(HandshakeSecret);
        CryptographicOperations.ZeroMemory(ServerMacKey);
        CryptographicOperations.ZeroMemory(ClientMacKey);
    }
}
