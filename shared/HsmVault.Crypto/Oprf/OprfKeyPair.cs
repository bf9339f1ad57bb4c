namespace HsmVault.Crypto.Oprf;

/// <summary>An OPRF key pair: 32-byte big-endian private scalar and 33-byte compressed public element.</summary>
public sealed record OprfKeyPair(byte[] PrivateKey, byte[] PublicKey);
