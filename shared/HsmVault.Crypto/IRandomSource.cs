namespace HsmVault.Crypto;

/// <summary>
/// The only source of randomness the crypto core uses, so an HSM can drive it from its own RNG
/// and tests can replay fixed bytes.
/// </summary>
public interface IRandomSource
{
    /// <summary>Fills <paramref name="destination"/> with uniformly random bytes.</summary>
    void Fill(Span<byte> destination);
}
