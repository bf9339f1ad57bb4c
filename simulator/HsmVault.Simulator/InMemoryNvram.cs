namespace HsmVault.Simulator;

/// <summary>
/// The persistent state of an <see cref="InMemoryHsmServices"/>: NVRAM content and a boot counter.
/// Handing the same instance to a new <see cref="InMemoryHsmServices"/> with the same seed simulates
/// the HSM restarting after a crash: the NVRAM survives, and the random stream does not repeat.
/// </summary>
public sealed class InMemoryNvram
{
    private readonly Lock _gate = new();
    private byte[] _content = [];
    private ulong _boots;

    public InMemoryNvram(int capacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>Largest content, in bytes, a write accepts.</summary>
    public int Capacity { get; }

    /// <summary>How many <see cref="InMemoryHsmServices"/> have started on this NVRAM.</summary>
    public ulong Boots
    {
        get
        {
            lock (_gate)
            {
                return _boots;
            }
        }
    }

    /// <summary>Loses the content, as an HSM whose NVRAM failed (fault injection); the boot count survives.</summary>
    public void Wipe()
    {
        lock (_gate)
        {
            _content = [];
        }
    }

    internal ulong RegisterBoot()
    {
        lock (_gate)
        {
            return ++_boots;
        }
    }

    internal byte[] Read()
    {
        lock (_gate)
        {
            return (byte[])_content.Clone();
        }
    }

    internal void Write(ReadOnlySpan<byte> content)
    {
        if (content.Length > Capacity)
        {
            throw new ArgumentException($"NVRAM content is {content.Length} bytes; the capacity is {Capacity} bytes.", nameof(content));
        }

        byte[] copy = content.ToArray();
        lock (_gate)
        {
            _content = copy;
        }
    }
}
