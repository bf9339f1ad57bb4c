namespace HsmVault.Enclave.Fleet;

/// <summary>
/// The HSM services of a fleet member, with every seal bound to the fleet: the associated data of
/// each record, registration ticket and login session starts with fleet id || configuration hash,
/// so nothing sealed in one fleet (or under one configuration) opens in another, even though every
/// fleet's HSMs may hold the same record key.
/// </summary>
internal sealed class BoundHsmServices(IHsmServices inner, byte[] binding) : IHsmServices
{
    public byte[] IdentityPublicKey => inner.IdentityPublicKey;

    public byte[] AkePublicKey => inner.AkePublicKey;

    public byte[] ChannelPublicKey => inner.ChannelPublicKey;

    public int NvramCapacity => inner.NvramCapacity;

    public void GetRandom(Span<byte> destination) => inner.GetRandom(destination);

    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData) => inner.Seal(plaintext, [.. binding, .. associatedData]);

    public bool TryUnseal(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext) =>
        inner.TryUnseal(sealedData, [.. binding, .. associatedData], out plaintext);

    public byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data) => inner.Hmac(key, data);

    public byte[] Sign(ReadOnlySpan<byte> message) => inner.Sign(message);

    public byte[] AkeDiffieHellman(ReadOnlySpan<byte> peerPoint) => inner.AkeDiffieHellman(peerPoint);

    public byte[] ChannelDiffieHellman(ReadOnlySpan<byte> peerPoint) => inner.ChannelDiffieHellman(peerPoint);

    public byte[] ReadNvram() => inner.ReadNvram();

    public void WriteNvram(ReadOnlySpan<byte> content) => inner.WriteNvram(content);
}
