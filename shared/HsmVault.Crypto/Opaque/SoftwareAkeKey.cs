using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// An AKE key pair held in process memory (clients, tests, the software simulator). Diffie-Hellman
/// uses the regular multiplier, so its timing does not depend on the private key.
/// </summary>
public sealed class SoftwareAkeKey : IServerAkeKey
{
    private readonly U256 _privateKey;
    private readonly byte[] _publicKey;

    public SoftwareAkeKey(ReadOnlySpan<byte> privateScalar)
        : this(P256Group.DecodeScalar(privateScalar, nameof(privateScalar)))
    {
    }

    private SoftwareAkeKey(U256 privateKey)
    {
        _privateKey = privateKey;
        _publicKey = OpaqueKeySchedule.PublicKeyOf(privateKey);
    }

    /// <inheritdoc />
    public byte[] PublicKey => (byte[])_publicKey.Clone();

    /// <summary>RFC 9807 DeriveDiffieHellmanKeyPair(seed): a 32-byte seed gives a key pair.</summary>
    public static SoftwareAkeKey Derive(ReadOnlySpan<byte> seed) => new(OpaqueKeySchedule.DeriveDiffieHellmanPrivateKey(seed));

    /// <inheritdoc />
    public byte[] DiffieHellman(ReadOnlySpan<byte> peerPoint) =>
        DiffieHellman(P256Group.DecodeElement(peerPoint, nameof(peerPoint)));

    /// <summary>The same product for an already validated point, saving a second decompression.</summary>
    internal byte[] DiffieHellman(in ProjectivePoint peer) =>
        P256Group.EncodeElement(Multiply(peer), "sharedSecret");

    /// <summary>The product before encoding, so a caller can batch the inversion.</summary>
    internal ProjectivePoint Multiply(in ProjectivePoint peer) => P256Curve.Multiply(_privateKey, peer);
}
