using HsmVault.Crypto;

namespace HsmVault.Enclave;

/// <summary>The HSM's RNG as the crypto library's random source.</summary>
internal sealed class HsmRandomSource(IHsmServices hsm) : IRandomSource
{
    public void Fill(Span<byte> destination) => hsm.GetRandom(destination);
}
