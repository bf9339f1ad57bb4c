namespace HsmVault.Enclave.Tests.Vault;

/// <summary>Wraps an <see cref="IHsmServices"/> to count NVRAM writes (and make them fail on demand) and seals.</summary>
internal sealed class CountingHsmServices(IHsmServices inner) : IHsmServices
{
    public int NvramWrites { get; private set; }

    /// <summary>Calls of <see cref="Seal"/>: what the record key's nonce budget is spent on (docs/CRYPTO.md).</summary>
    public int Seals { get; private set; }

    public bool FailNextNvramWrite { get; set; }

    public byte[] IdentityPublicKey => inner.IdentityPublicKey;

    public byte[] AkePublicKey => inner.AkePublicKey;

    public int NvramCapacity => inner.NvramCapacity;

    public void GetRandom(Span<byte> destination) => inner.GetRandom(destination);

    /// <summary>Every value <see cref="Seal"/> returned, in order.</summary>
    public List<byte[]> Sealed { get; } = [];

    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        Seals++;
        byte[] sealedValue = inner.Seal(plaintext, associatedData);
        Sealed.Add(sealedValue);
        return sealedValue;
    }

    public bool TryUnseal(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext) =>
        inner.TryUnseal(sealedData, associatedData, out plaintext);

    public byte[] Hmac(HsmHmacKey key, ReadOnlySpan<byte> data) => inner.Hmac(key, data);

    public byte[] Sign(ReadOnlySpan<byte> message) => inner.Sign(message);

    public byte[] AkeDiffieHellman(ReadOnlySpan<byte> peerPoint) => inner.AkeDiffieHellman(peerPoint);

    public byte[] ChannelPublicKey => inner.ChannelPublicKey;

    public byte[] ChannelDiffieHellman(ReadOnlySpan<byte> peerPoint) => inner.ChannelDiffieHellman(peerPoint);

    public byte[] ReadNvram() => inner.ReadNvram();

    public void WriteNvram(ReadOnlySpan<byte> content)
    {
        if (FailNextNvramWrite)
        {
            FailNextNvramWrite = false;
            throw new IOException("simulated NVRAM write failure");
        }

        NvramWrites++;
        inner.WriteNvram(content);
    }
}
