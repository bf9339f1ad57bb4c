namespace HsmVault.Enclave;

/// <summary>
/// Everything the enclave needs from the HSM it runs in. The enclave does no I/O of its own:
/// randomness, keys and persistent state all come through this interface, so the same
/// enclave code runs over a PKCS#11 token (SoftHSM2 or a vendor HSM) or a seeded in-memory
/// stand-in for deterministic tests. Key material never crosses this interface.
/// </summary>
public interface IHsmServices
{
    /// <summary>Fills <paramref name="destination"/> with bytes from the HSM's random number generator.</summary>
    void GetRandom(Span<byte> destination);

    /// <summary>
    /// Encrypts and authenticates <paramref name="plaintext"/> with the fleet record key: XAES-256-GCM inside
    /// the HSM, a fresh 192-bit nonce from the HSM's RNG, AES-256-GCM under a key the HSM derives from the
    /// record key for that nonce (so no key ever meets the random-nonce GCM bound; docs/CRYPTO.md).
    /// Returns <see cref="SealedFormat"/>: version (1 byte) || nonce (24 bytes) || ciphertext || tag (16 bytes).
    /// </summary>
    byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData);

    /// <summary>
    /// Reverses <see cref="Seal"/>. Returns false, with no plaintext, when the sealed bytes (version byte,
    /// nonce, ciphertext or tag) or the associated data were altered or were not made by this fleet's record key.
    /// </summary>
    bool TryUnseal(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext);

    /// <summary>HMAC-SHA-256 of <paramref name="data"/> under the HSM-resident key <paramref name="key"/>; returns 32 bytes.</summary>
    byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data);

    /// <summary>ECDSA P-256 with SHA-256 over <paramref name="message"/> by the HSM's identity key; returns r || s (64 bytes).</summary>
    byte[] Sign(ReadOnlySpan<byte> message);

    /// <summary>The HSM identity public key, SEC1 compressed (33 bytes).</summary>
    byte[] IdentityPublicKey { get; }

    /// <summary>The fleet's static OPAQUE AKE public key, SEC1 compressed (33 bytes).</summary>
    byte[] AkePublicKey { get; }

    /// <summary>
    /// Multiplies the P-256 point <paramref name="peerPoint"/> (SEC1 compressed, 33 bytes) by the
    /// fleet's static AKE private key inside the HSM and returns the whole product point,
    /// SEC1 compressed (33 bytes). Throws <see cref="ArgumentException"/> for an invalid point.
    /// </summary>
    byte[] AkeDiffieHellman(ReadOnlySpan<byte> peerPoint);

    /// <summary>The fleet's channel public key (HPKE DHKEM(P-256)), SEC1 uncompressed (65 bytes).</summary>
    byte[] ChannelPublicKey { get; }

    /// <summary>
    /// The x-coordinate (32 bytes) of the fleet's channel private key times <paramref name="peerPoint"/>
    /// (SEC1 uncompressed, 65 bytes), computed inside the HSM by key handle (PKCS#11 ECDH1_DERIVE,
    /// CKD_NULL): the Diffie-Hellman of HPKE decapsulation. Throws <see cref="ArgumentException"/>
    /// for an invalid point.
    /// </summary>
    byte[] ChannelDiffieHellman(ReadOnlySpan<byte> peerPoint);

    /// <summary>Largest NVRAM content, in bytes, that <see cref="WriteNvram"/> accepts.</summary>
    int NvramCapacity { get; }

    /// <summary>The NVRAM content last written (empty before the first write).</summary>
    byte[] ReadNvram();

    /// <summary>Replaces the NVRAM content atomically and durably: after a crash either the old or the new content is read back, never a mix.</summary>
    void WriteNvram(ReadOnlySpan<byte> content);
}
