namespace HsmVault.Crypto.Tests;

/// <summary>A reproducible pseudo-random source for round-trip tests (not for production).</summary>
internal sealed class SeededRandomSource : IRandomSource
{
    private readonly Random _random;

    public SeededRandomSource(int seed) => _random = new Random(seed);

    public void Fill(Span<byte> destination) => _random.NextBytes(destination);
}
