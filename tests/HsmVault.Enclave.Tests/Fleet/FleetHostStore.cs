using Google.Protobuf;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// One host's untrusted store for a fleet member: the log entries with their record writes, first
/// writer wins at each index, and the Merkle tree and records they lead to (rebuilt from the log
/// after a roll-back). What an honest host keeps; tests play a hostile one by editing it.
/// </summary>
internal sealed class FleetHostStore
{
    private readonly List<(FleetEntry Entry, List<RecordWrite> Writes)> _log = [];
    private InMemoryRecordStore _records = new();

    /// <summary>The highest index stored (0 when empty).</summary>
    public ulong LastIndex => _log.Count == 0 ? 0 : _log[^1].Entry.Index;

    public FleetEntry? Last => _log.Count == 0 ? null : _log[^1].Entry;

    public byte[] Root => _records.Tree.Root;

    /// <summary>Entries after <paramref name="index"/>, with their writes, in order.</summary>
    public List<(FleetEntry Entry, List<RecordWrite> Writes)> After(ulong index) => [.. _log.Where(e => e.Entry.Index > index)];

    public FleetEntry? At(ulong index) => _log.FirstOrDefault(e => e.Entry.Index == index).Entry;

    /// <summary>Appends the next entry; false (and nothing changes) when it is not the next index or the index is taken.</summary>
    public bool Append(FleetEntry entry, IEnumerable<RecordWrite> writes)
    {
        if (entry.Index != LastIndex + 1 && !(_log.Count == 0 && entry.Index == FleetEnclave.GenesisIndex))
        {
            return false;
        }

        if (_log.Count > 0 && !entry.PrevMac.Equals(_log[^1].Entry.Mac))
        {
            return false;
        }

        List<RecordWrite> copy = [.. writes.Select(w => w.Clone())];
        _log.Add((entry.Clone(), copy));
        _records.Apply(copy);
        return true;
    }

    /// <summary>Becomes a copy of <paramref name="source"/> (a host repairing its store from a peer's).</summary>
    public void CopyFrom(FleetHostStore source)
    {
        RollBackTo(0);
        foreach ((FleetEntry entry, List<RecordWrite> writes) in source._log)
        {
            Append(entry, writes);
        }
    }

    /// <summary>Drops every entry after <paramref name="index"/> (a store restored from an old backup).</summary>
    public void RollBackTo(ulong index)
    {
        _log.RemoveAll(e => e.Entry.Index > index);
        _records = new InMemoryRecordStore();
        foreach ((_, List<RecordWrite> writes) in _log)
        {
            _records.Apply(writes);
        }
    }

    public RecordWitness WitnessFor(ByteString userId) => _records.WitnessFor(userId);
}
