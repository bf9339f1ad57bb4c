namespace HsmVault.Fuzz.Support;

/// <summary>Splits a fuzz input into fields: bytes and lengths taken from the front, the rest at the end. Past the end it reads zeros.</summary>
public ref struct FuzzInput(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly bool IsEmpty => _rest.IsEmpty;

    public readonly ReadOnlySpan<byte> Rest => _rest;

    public byte Byte()
    {
        if (_rest.IsEmpty)
        {
            return 0;
        }

        byte b = _rest[0];
        _rest = _rest[1..];
        return b;
    }

    /// <summary>Up to <paramref name="count"/> bytes (fewer when the input ends).</summary>
    public ReadOnlySpan<byte> Take(int count)
    {
        count = Math.Min(count, _rest.Length);
        ReadOnlySpan<byte> taken = _rest[..count];
        _rest = _rest[count..];
        return taken;
    }

    /// <summary>A field prefixed by a one-byte length.</summary>
    public ReadOnlySpan<byte> Short() => Take(Byte());

    /// <summary>A field prefixed by a two-byte big-endian length.</summary>
    public ReadOnlySpan<byte> Long() => Take((Byte() << 8) | Byte());

    public ReadOnlySpan<byte> TakeRest()
    {
        ReadOnlySpan<byte> rest = _rest;
        _rest = [];
        return rest;
    }
}

/// <summary>Builds inputs in the layout <see cref="FuzzInput"/> reads.</summary>
public sealed class FuzzInputWriter
{
    private readonly List<byte> _bytes = [];

    public FuzzInputWriter Byte(byte value)
    {
        _bytes.Add(value);
        return this;
    }

    public FuzzInputWriter Raw(ReadOnlySpan<byte> value)
    {
        _bytes.AddRange(value);
        return this;
    }

    public FuzzInputWriter Short(ReadOnlySpan<byte> value)
    {
        if (value.Length > byte.MaxValue)
        {
            throw new ArgumentException("a short field holds at most 255 bytes", nameof(value));
        }

        _bytes.Add((byte)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    public FuzzInputWriter Long(ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue)
        {
            throw new ArgumentException("a long field holds at most 65535 bytes", nameof(value));
        }

        _bytes.Add((byte)(value.Length >> 8));
        _bytes.Add((byte)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}
