namespace HsmVault.Crypto.Opaque;

/// <summary>
/// The server's static AKE key pair. The private half may live in an HSM; the protocol only
/// needs the public key and Diffie-Hellman with it.
/// </summary>
public interface IServerAkeKey
{
    /// <summary>The public key, SEC1 compressed (33 bytes).</summary>
    byte[] PublicKey { get; }

    /// <summary>
    /// Multiplies <paramref name="peerPoint"/> (SEC1 compressed, validated) by the private key
    /// with a regular algorithm and returns the product, SEC1 compressed (33 bytes).
    /// </summary>
    byte[] DiffieHellman(ReadOnlySpan<byte> peerPoint);
}
