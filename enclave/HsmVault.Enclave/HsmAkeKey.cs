using HsmVault.Crypto.Opaque;

namespace HsmVault.Enclave;

/// <summary>The fleet's static AKE key as OPAQUE sees it; the private half stays in the HSM.</summary>
internal sealed class HsmAkeKey(IHsmServices hsm) : IServerAkeKey
{
    public byte[] PublicKey => hsm.AkePublicKey;

    public byte[] DiffieHellman(ReadOnlySpan<byte> peerPoint) => hsm.AkeDiffieHellman(peerPoint);
}
