namespace HsmVault.Crypto.Opaque;

/// <summary>
/// The server's OPRF seed, used only through HKDF-Expand so an HSM can keep it as an HMAC key.
/// </summary>
public interface IOprfSeed
{
    /// <summary>HKDF-Expand(PRK = oprf_seed, <paramref name="info"/>, <paramref name="length"/>).</summary>
    byte[] Expand(ReadOnlySpan<byte> info, int length);
}
