using HsmVault.Enclave;

namespace HsmVault.Benchmarks;

/// <summary>
/// Test and benchmark only: the HSM's services unchanged, except that the channel Diffie-Hellman
/// remembers its last input and answer. The product of the channel key and a point is a pure
/// function, so the enclave gets exactly the bytes the HSM would compute; the seeder seals every
/// filler request with one ephemeral key, so the HSM computes it once instead of once per request.
/// </summary>
public sealed class MemoizedChannelServices(IHsmServices inner) : IHsmServices
{
    private byte[] _lastPeer = [];
    private byte[] _lastSecret = [];

    public byte[] IdentityPublicKey => inner.IdentityPublicKey;

    public byte[] AkePublicKey => inner.AkePublicKey;

    public byte[] ChannelPublicKey => inner.ChannelPublicKey;

    public int NvramCapacity => inner.NvramCapacity;

    public byte[] ChannelDiffieHellman(ReadOnlySpan<byte> peerPoint)
    {
        if (!peerPoint.SequenceEqual(_lastPeer))
        {
            _lastSecret = inner.ChannelDiffieHellman(peerPoint);
            _lastPeer = peerPoint.ToArray();
        }

        return (byte[])_lastSecret.Clone();
    }

    public void GetRandom(Span<byte> destination) => inner.GetRandom(destination);

    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData) => inner.Seal(plaintext, associatedData);

    public bool TryUnseal(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext) => inner.TryUnseal(sealedData, associatedData, out plaintext);

    public byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data) => inner.Hmac(key, data);

    public byte[] Sign(ReadOnlySpan<byte> message) => inner.Sign(message);

    public byte[] AkeDiffieHellman(ReadOnlySpan<byte> peerPoint) => inner.AkeDiffieHellman(peerPoint);

    public byte[] ReadNvram() => inner.ReadNvram();

    public void WriteNvram(ReadOnlySpan<byte> content) => inner.WriteNvram(content);
}
