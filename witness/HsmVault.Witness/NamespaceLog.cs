using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>
/// One namespace's log in memory: entries, the Merkle tree over their statements, the checkpoint
/// signed at every size and the cosignatures gathered for it. Rebuilt from the store at start,
/// where every entry and checkpoint is checked against the witness's own key and the tree, so a
/// store altered behind the witness's back stops it instead of being served. The owner
/// (<see cref="WitnessLog"/>) holds the lock around every call.
/// </summary>
internal sealed class NamespaceLog : ILogSnapshot
{
    private readonly MerkleLog _tree = new();
    private readonly List<WitnessLogEntry> _entries = [];
    private readonly Dictionary<long, SignedNote> _checkpoints = [];
    private readonly Dictionary<long, SortedDictionary<string, NoteSignature>> _cosignatures = [];

    public NamespaceLog(string @namespace, string origin)
    {
        Namespace = FleetNamespace.Check(@namespace, nameof(@namespace));
        Origin = origin;
    }

    public string Namespace { get; }

    /// <summary>The checkpoint origin of this log.</summary>
    public string Origin { get; }

    public long Size => _entries.Count;

    /// <summary>The newest entry, or null for an empty log.</summary>
    public WitnessLogEntry? Newest => _entries.Count == 0 ? null : _entries[^1];

    /// <summary>Rebuilds a namespace from the store, checking everything the store holds.</summary>
    public static NamespaceLog Load(WitnessStore store, string @namespace, string origin, NoteVerifierKey witnessKey)
    {
        try
        {
            return LoadChecked(store, @namespace, origin, witnessKey);
        }
        catch (Exception ex) when (ex is FormatException or NoteVerificationException or ArgumentException)
        {
            throw new WitnessStoreException(store.Path, $"namespace {@namespace}: {ex.Message}; the store was altered", ex);
        }
    }

    private static NamespaceLog LoadChecked(WitnessStore store, string @namespace, string origin, NoteVerifierKey witnessKey)
    {
        var log = new NamespaceLog(@namespace, origin);
        IReadOnlyDictionary<long, string> checkpoints = store.Checkpoints(@namespace);
        long epoch = 0;
        foreach (WitnessLogEntry entry in store.Entries(@namespace))
        {
            string where = $"namespace {@namespace} entry {entry.Index} (epoch {entry.Statement.Epoch})";
            if (entry.Statement.Epoch <= epoch || !entry.DigestMatches
                || !witnessKey.Verify(entry.Statement.ToBytes(), entry.WitnessSignature))
            {
                throw new WitnessStoreException(store.Path, $"{where}: epoch order, digest or witness signature is wrong; the store was altered");
            }

            epoch = entry.Statement.Epoch;
            if (!checkpoints.TryGetValue(entry.Index + 1, out string? text))
            {
                throw new WitnessStoreException(store.Path, $"{where}: the checkpoint of size {entry.Index + 1} is missing");
            }

            SignedNote note = SignedNote.Parse(text);
            Checkpoint checkpoint = Checkpoint.Parse(note.Text);
            byte[] root = log._tree.RootAfterAppending(entry.Statement.LeafHash());
            if (checkpoint.Origin != origin || checkpoint.Size != entry.Index + 1 || !checkpoint.RootHash.AsSpan().SequenceEqual(root))
            {
                throw new WitnessStoreException(store.Path, $"{where}: the checkpoint of size {entry.Index + 1} is not this log's");
            }

            note.Verify([witnessKey]);
            log.Add(entry, note);
        }

        foreach ((long size, Dictionary<string, string> lines) in store.Cosignatures(@namespace))
        {
            foreach (string line in lines.Values)
            {
                if (size <= log.Size)
                {
                    log.AddCosignature(size, SignedNote.Parse(log._checkpoints[size].Text + "\n" + line + "\n").Signatures.Single());
                }
            }
        }

        return log;
    }

    public WitnessLogEntry Entry(long index)
    {
        if (index < 0 || index >= Size)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"namespace {Namespace} has {Size} entries");
        }

        return _entries[(int)index];
    }

    /// <summary>The entry of <paramref name="epoch"/>, or null.</summary>
    public WitnessLogEntry? EntryOfEpoch(long epoch)
    {
        // Epochs increase with the index: binary search.
        int low = 0;
        int high = _entries.Count - 1;
        while (low <= high)
        {
            int middle = low + ((high - low) / 2);
            long found = _entries[middle].Statement.Epoch;
            if (found == epoch)
            {
                return _entries[middle];
            }

            (low, high) = found < epoch ? (middle + 1, high) : (low, middle - 1);
        }

        return null;
    }

    /// <summary>The log-signed checkpoint of <paramref name="size"/> without cosignatures.</summary>
    public SignedNote LogCheckpointAt(long size) => _checkpoints.TryGetValue(size, out SignedNote? note)
        ? note
        : throw new ArgumentOutOfRangeException(nameof(size), size, $"namespace {Namespace} has checkpoints of sizes 1 to {Size}");

    public SignedNote CheckpointAt(long size)
    {
        SignedNote note = LogCheckpointAt(size);
        return _cosignatures.TryGetValue(size, out SortedDictionary<string, NoteSignature>? lines) ? note.WithSignatures(lines.Values) : note;
    }

    public IReadOnlyList<byte[]> InclusionProof(long index, long size) => _tree.InclusionProof(index, size);

    public IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long size) => _tree.ConsistencyProof(oldSize, size);

    /// <summary>The root the tree would have with <paramref name="statement"/> appended.</summary>
    public byte[] RootAfterAppending(EpochStatement statement) => _tree.RootAfterAppending(statement.LeafHash());

    public void Add(WitnessLogEntry entry, SignedNote checkpoint)
    {
        if (entry.Index != Size)
        {
            throw new InvalidOperationException($"namespace {Namespace}: entry {entry.Index} appended at size {Size}");
        }

        _tree.Append(entry.Statement.LeafHash());
        _entries.Add(entry);
        _checkpoints[Size] = checkpoint;
    }

    public void SetCounterSignature(long index, byte[] counterSignature) =>
        _entries[(int)index] = _entries[(int)index].WithCounterSignature(counterSignature);

    public void AddCosignature(long size, NoteSignature line)
    {
        if (!_cosignatures.TryGetValue(size, out SortedDictionary<string, NoteSignature>? lines))
        {
            _cosignatures[size] = lines = new SortedDictionary<string, NoteSignature>(StringComparer.Ordinal);
        }

        lines[line.Name] = line;
    }
}
