namespace HsmVault.Crypto.Hpke;

/// <summary>
/// The recipient's static DHKEM(P-256) key as HPKE decapsulation needs it. The private half may
/// live in an HSM: decapsulation only asks for the Diffie-Hellman x-coordinate, which PKCS#11's
/// ECDH1_DERIVE (CKD_NULL) returns by key handle.
/// </summary>
public interface IHpkeRecipientKey
{
    /// <summary>The public key, SEC1 uncompressed (65 bytes): HPKE's SerializePublicKey(pkR).</summary>
    byte[] PublicKey { get; }

    /// <summary>
    /// The x-coordinate (32 bytes) of skR * <paramref name="peerPoint"/>, for a SEC1 uncompressed
    /// peer point (65 bytes). Throws <see cref="ArgumentException"/> for a point that is not on the curve.
    /// </summary>
    byte[] DiffieHellmanX(ReadOnlySpan<byte> peerPoint);
}
