namespace HsmVault.Host.Store;

/// <summary>Compares byte arrays by content, for dictionaries keyed by hashes and user keys.</summary>
public sealed class ByteArrayComparer : IEqualityComparer<byte[]>
{
    public static ByteArrayComparer Instance { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj)
    {
        HashCode hash = default;
        hash.AddBytes(obj);
        return hash.ToHashCode();
    }
}
