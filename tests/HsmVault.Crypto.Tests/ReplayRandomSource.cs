namespace HsmVault.Crypto.Tests;

/// <summary>
/// Hands out fixed byte strings in order, one per Fill call, so a test can inject the blinds,
/// nonces and seeds of a published vector. Throws if the implementation draws more or different
/// amounts than expected, which is itself a check on the draw order.
/// </summary>
internal sealed class ReplayRandomSource : IRandomSource
{
    private readonly Queue<byte[]> _draws;

    public ReplayRandomSource(params string[] hexDraws)
    {
        _draws = new Queue<byte[]>(hexDraws.Select(Convert.FromHexString));
    }

    public int Remaining => _draws.Count;

    public void Fill(Span<byte> destination)
    {
        if (!_draws.TryDequeue(out var next))
        {
            throw new InvalidOperationException("the implementation drew more random values than the vector provides");
        }

        if (next.Length != destination.Length)
        {
            throw new InvalidOperationException($"the implementation drew {destination.Length} bytes where the vector has {next.Length}");
        }

        next.CopyTo(destination);
    }
}
