using System.Security.Cryptography;
using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Hpke;

/// <summary>
/// A DHKEM(P-256) recipient key held in ordinary memory: for tests, test doubles and the seeded
/// in-memory HSM. A real fleet keeps the channel key in its HSMs, behind <see cref="IHpkeRecipientKey"/>.
/// </summary>
public sealed class P256HpkeKeyPair : IHpkeRecipientKey, IDisposable
{
    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;

    private P256HpkeKeyPair(byte[] privateKey, byte[] publicKey)
    {
        _privateKey = privateKey;
        _publicKey = publicKey;
    }

    /// <inheritdoc />
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    /// <summary>A key pair from RFC 9180's DeriveKeyPair(ikm).</summary>
    public static P256HpkeKeyPair Derive(ReadOnlySpan<byte> ikm)
    {
        (byte[] privateKey, byte[] publicKey) = HpkeP256.DeriveKeyPair(ikm);
        return new P256HpkeKeyPair(privateKey, publicKey);
    }

    /// <summary>A key pair from a private scalar (32 bytes, below the group order, non-zero).</summary>
    public static P256HpkeKeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey) =>
        new(privateKey.ToArray(), P256Group.PublicKeyUncompressed(privateKey, "privateKey"));

    /// <inheritdoc />
    public byte[] DiffieHellmanX(ReadOnlySpan<byte> peerPoint) => P256Group.DiffieHellmanX(_privateKey, peerPoint, "skR", "peerPoint");

    public void Dispose() => CryptographicOperations.ZeroMemory(_privateKey);
}
