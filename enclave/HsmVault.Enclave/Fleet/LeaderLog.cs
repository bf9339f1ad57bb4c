using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Fleet;

/// <summary>
/// The leader's RAM: the entry it leads from, the entries it wrote since, and for each the answers
/// it holds until that entry commits. Answers leave only through <see cref="CommitNext"/>, in log
/// order; losing this object (a restart, a step-down) loses the held answers, never a commit.
/// </summary>
internal sealed class LeaderLog(FleetEntry baseEntry)
{
    private readonly List<(FleetEntry Entry, List<OperationResult> Held)> _pending = [];

    /// <summary>The newest entry: the last written, or the base.</summary>
    public FleetEntry Latest => _pending.Count > 0 ? _pending[^1].Entry : baseEntry;

    /// <summary>The highest index this leader saw committed (0 until its first commit).</summary>
    public ulong CommittedIndex { get; private set; }

    public void Append(FleetEntry entry, List<OperationResult> held) => _pending.Add((entry, held));

    /// <summary>The written, uncommitted entries in order.</summary>
    public IEnumerable<FleetEntry> Pending() => _pending.Select(p => p.Entry).ToList();

    /// <summary>Whether this leader wrote (or leads from) the entry with this index and MAC.</summary>
    public bool Wrote(ulong index, ReadOnlySpan<byte> mac)
    {
        if (index == baseEntry.Index)
        {
            return baseEntry.Mac.Span.SequenceEqual(mac);
        }

        foreach ((FleetEntry entry, _) in _pending)
        {
            if (entry.Index == index)
            {
                return entry.Mac.Span.SequenceEqual(mac);
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="entry"/> sits at an index this leader wrote but is another entry.</summary>
    public bool Conflicts(FleetEntry entry) =>
        _pending.Any(p => p.Entry.Index == entry.Index && !p.Entry.Mac.Equals(entry.Mac));

    /// <summary>Marks the oldest pending entry committed and returns its held answers.</summary>
    public List<OperationResult> CommitNext()
    {
        (FleetEntry entry, List<OperationResult> held) = _pending[0];
        _pending.RemoveAt(0);
        baseEntry = entry;
        CommittedIndex = entry.Index;
        return held;
    }
}
