using HsmVault.Crypto.Hpke;

namespace HsmVault.Enclave;

/// <summary>The fleet's channel key as HPKE decapsulation sees it; the private half stays in the HSM.</summary>
internal sealed class HsmChannelKey(IHsmServices hsm) : IHpkeRecipientKey
{
    private readonly byte[] _publicKey = hsm.ChannelPublicKey;

    public byte[] PublicKey => _publicKey;

    public byte[] DiffieHellmanX(ReadOnlySpan<byte> peerPoint) => hsm.ChannelDiffieHellman(peerPoint);
}
