using HsmVault.Host.Store;

namespace HsmVault.Host.Fleet;

/// <summary>
/// Who may lead the fleet now: a lease in the shared store (holder position, expiry), taken, renewed
/// and handed back only by compare-and-set, so two hosts never both think they took it from the same
/// state. It decides availability only: the HSMs keep the fleet safe even when clocks drift and two
/// hosts lead at once (one of them then loses the store's first-writer race and steps down).
/// </summary>
internal sealed class LeaderLease
{
    private readonly IVaultStore _store;
    private readonly Lock _storeGate;
    private readonly int _self;
    private readonly int _size;
    private readonly TimeSpan _duration;
    private readonly TimeProvider _time;
    private byte[]? _held;

    public LeaderLease(IVaultStore store, Lock storeGate, int self, int size, TimeSpan duration, TimeProvider time)
    {
        _store = store;
        _storeGate = storeGate;
        _self = self;
        _size = size;
        _duration = duration;
        _time = time;
    }

    /// <summary>The lease as the store holds it, read at one instant.</summary>
    public sealed record View(byte[]? Bytes, int Holder, DateTimeOffset Expires, bool Lapsed);

    /// <summary>True while this host holds the lease (as far as it knows: <see cref="Renew"/> finds out).</summary>
    public bool Held => _held is not null;

    /// <summary>Reads the lease.</summary>
    public View Read()
    {
        byte[]? bytes;
        lock (_storeGate)
        {
            bytes = _store.ReadFleetValue(FleetStoreValues.Lease);
        }

        (int holder, DateTimeOffset expires) = FleetStoreValues.DecodeLease(bytes);
        return new View(bytes, holder, expires, expires <= _time.GetUtcNow());
    }

    /// <summary>The other member that holds a live lease now, or -1.</summary>
    public int OtherHolder() => OtherHolder(Read());

    /// <summary>The other member that holds the lease <paramref name="view"/> shows, if it is live; else -1.</summary>
    public int OtherHolder(View view) =>
        !view.Lapsed && view.Holder >= 0 && view.Holder < _size && view.Holder != _self ? view.Holder : -1;

    /// <summary>Whether this host may try to take the lease it saw: lapsed, or its own from before.</summary>
    public bool MayTake(View seen) => seen.Lapsed || seen.Holder == _self;

    /// <summary>Takes the lease if it is still exactly what <paramref name="seen"/> read. True when taken.</summary>
    public bool TryTake(View seen)
    {
        byte[] mine = FleetStoreValues.EncodeLease(_self, _time.GetUtcNow() + _duration);
        bool taken;
        lock (_storeGate)
        {
            taken = _store.CompareAndSetFleetValue(FleetStoreValues.Lease, seen.Bytes, mine);
        }

        _held = taken ? mine : null;
        return taken;
    }

    /// <summary>
    /// Extends the held lease once a third of it has passed. False when this host does not hold it
    /// any more (another host took it after it lapsed): the caller must stop leading.
    /// </summary>
    public bool Renew()
    {
        if (_held is not { } held)
        {
            return false;
        }

        DateTimeOffset now = _time.GetUtcNow();
        (_, DateTimeOffset expires) = FleetStoreValues.DecodeLease(held);
        if (expires - now > _duration * 2 / 3)
        {
            return true;
        }

        byte[] next = FleetStoreValues.EncodeLease(_self, now + _duration);
        bool renewed;
        lock (_storeGate)
        {
            renewed = _store.CompareAndSetFleetValue(FleetStoreValues.Lease, held, next);
        }

        _held = renewed ? next : null;
        return renewed;
    }

    /// <summary>Hands the lease back (lapsed at once), so another host need not wait it out.</summary>
    public void Release()
    {
        if (_held is { } held)
        {
            _held = null;
            lock (_storeGate)
            {
                _store.CompareAndSetFleetValue(FleetStoreValues.Lease, held, FleetStoreValues.EncodeLease(_self, DateTimeOffset.UnixEpoch));
            }
        }
    }

    /// <summary>Forgets the lease without touching the store (the store is unreachable; it lapses by itself).</summary>
    public void Forget() => _held = null;
}
