using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Tests;

/// <summary>The sender's side of DHKEM's Diffie-Hellman, for comparing both halves of a vector.</summary>
internal static class P256HpkeKeyPairTestAccess
{
    internal static byte[] SenderDh(byte[] ephemeralPrivateKey, byte[] recipientPublicKey) =>
        P256Group.DiffieHellmanX(ephemeralPrivateKey, recipientPublicKey);
}
