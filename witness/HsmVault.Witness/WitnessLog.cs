using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>
/// The witness's logs, one per namespace: appends (namespace, epoch, digest) statements the
/// operator asked for, refusing any epoch that does not increase, signs each statement and each
/// new checkpoint with its Ed25519 key, and keeps the operator's counter-signatures. Every change
/// reaches the store before memory or any answer; one lock serialises all calls.
/// </summary>
internal sealed class WitnessLog : IDisposable
{
    private readonly Lock _lock = new();
    private readonly WitnessStore _store;
    private readonly NoteSigningKey _key;
    private readonly OperatorKey _operator;
    private readonly Dictionary<string, NamespaceLog> _logs = new(StringComparer.Ordinal);

    private WitnessLog(WitnessStore store, NoteSigningKey key, OperatorKey operatorKey)
    {
        _store = store;
        _key = key;
        _operator = operatorKey;
    }

    /// <summary>The witness's name: its key name, and the first part of each log's origin.</summary>
    public string Name => _key.Name;

    /// <summary>The witness's public key (type 0x01), which signs statements and checkpoints.</summary>
    public NoteVerifierKey VerifierKey => _key.Verifier;

    /// <summary>The operator key appends and counter-signatures are checked against.</summary>
    public OperatorKey OperatorKey => _operator;

    /// <summary>
    /// Opens the logs in <paramref name="store"/>, checking each against <paramref name="key"/>. The
    /// operator key is bound to the store on first use; null reads the bound one (for an export).
    /// </summary>
    public static WitnessLog Open(WitnessStore store, NoteSigningKey key, OperatorKey? operatorKey)
    {
        operatorKey ??= store.Meta("operator_key") is { } stored
            ? OperatorKey.Parse(stored)
            : throw new WitnessStoreException(store.Path, "no operator key is bound to this store yet: start the witness with --operator-key first");

        // One store belongs to one witness key and one operator: moving it under another would
        // have the new key vouch for what it never saw.
        string bound = store.BindMeta("witness_vkey", key.Verifier.ToString());
        if (bound != key.Verifier.ToString())
        {
            throw new WitnessStoreException(store.Path, $"belongs to witness {bound}, not {key.Verifier}");
        }

        string boundOperator = store.BindMeta("operator_key", operatorKey.ToString());
        if (boundOperator != operatorKey.ToString())
        {
            throw new WitnessStoreException(store.Path, $"serves operator key {boundOperator}, not {operatorKey}");
        }

        var log = new WitnessLog(store, key, operatorKey);
        foreach (string @namespace in store.Namespaces())
        {
            log._logs[@namespace] = NamespaceLog.Load(store, @namespace, log.Origin(@namespace), key.Verifier);
        }

        return log;
    }

    /// <summary>The checkpoint origin of a namespace's log.</summary>
    public string Origin(string @namespace) => FleetNamespace.Origin(Name, @namespace);

    public IReadOnlyList<string> Namespaces
    {
        get
        {
            lock (_lock)
            {
                return [.. _logs.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>
    /// Appends <paramref name="epoch"/> of <paramref name="fleetKeys"/> to <paramref name="namespace"/>'s
    /// log if the operator signed the request and the epoch is above the newest. Appending the
    /// newest statement again returns it unchanged, so a lost answer can be asked for again.
    /// </summary>
    public AppendOutcome Append(string @namespace, long epoch, FleetKeySet fleetKeys, ReadOnlySpan<byte> authorization)
    {
        var statement = new EpochStatement(@namespace, epoch, fleetKeys.Digest);
        if (!_operator.VerifyAppendRequest(statement, authorization))
        {
            return new AppendNotAuthorized("the authorization is not the operator's signature of this append request");
        }

        lock (_lock)
        {
            if (!_logs.TryGetValue(@namespace, out NamespaceLog? log))
            {
                log = new NamespaceLog(@namespace, Origin(@namespace));
            }

            if (log.Newest is { } newest)
            {
                if (newest.Statement.SameAs(statement))
                {
                    return new Appended(newest, log.CheckpointAt(log.Size), AlreadyPresent: true);
                }

                if (epoch <= newest.Statement.Epoch)
                {
                    return new EpochNotIncreasing(epoch, newest.Statement.Epoch);
                }
            }

            var entry = new WitnessLogEntry(log.Size, statement, fleetKeys, _key.Sign(statement.ToBytes()));
            var checkpoint = new Checkpoint(log.Origin, log.Size + 1, log.RootAfterAppending(statement));
            SignedNote note = SignedNote.Sign(checkpoint.ToText(), _key);
            _store.Append(entry, note.ToString());
            log.Add(entry, note);
            _logs[@namespace] = log;
            return new Appended(entry, note, AlreadyPresent: false);
        }
    }

    /// <summary>Stores the operator's counter-signature of entry <paramref name="index"/> once it verifies.</summary>
    public CounterSignOutcome CounterSign(string @namespace, long index, byte[] counterSignature)
    {
        lock (_lock)
        {
            if (!_logs.TryGetValue(@namespace, out NamespaceLog? log) || index < 0 || index >= log.Size)
            {
                return new EntryNotFound(@namespace, index);
            }

            WitnessLogEntry entry = log.Entry(index);
            if (!_operator.VerifyCounterSignature(entry.WitnessSignature, counterSignature))
            {
                return new CounterSignatureInvalid(index);
            }

            if (entry.CounterSignature is not null)
            {
                return new CounterSigned(entry);
            }

            _store.SetCounterSignature(@namespace, index, counterSignature);
            log.SetCounterSignature(index, counterSignature);
            return new CounterSigned(log.Entry(index));
        }
    }

    /// <summary>Runs <paramref name="read"/> on a namespace's log under the lock; null when the namespace has no entry.</summary>
    public T? Read<T>(string @namespace, Func<NamespaceLog, T> read)
        where T : class?
    {
        lock (_lock)
        {
            return _logs.TryGetValue(@namespace, out NamespaceLog? log) ? read(log) : null;
        }
    }

    /// <summary>Runs <paramref name="read"/> on a namespace's log under the lock; false when the namespace has no entry.</summary>
    public bool Read(string @namespace, Action<NamespaceLog> read)
    {
        lock (_lock)
        {
            if (!_logs.TryGetValue(@namespace, out NamespaceLog? log))
            {
                return false;
            }

            read(log);
            return true;
        }
    }

    /// <summary>Keeps a cosignature line already verified against the cosigner's key.</summary>
    public void AddCosignature(string @namespace, long size, NoteSignature line)
    {
        lock (_lock)
        {
            NamespaceLog log = _logs[@namespace];
            _store.AddCosignature(@namespace, size, line.Name, line.ToLine().TrimEnd('\n'));
            log.AddCosignature(size, line);
        }
    }

    /// <summary>The size <paramref name="cosigner"/> last cosigned in <paramref name="namespace"/>, 0 when never.</summary>
    public long CosignerSize(string @namespace, string cosigner)
    {
        lock (_lock)
        {
            return _store.CosignerSize(@namespace, cosigner);
        }
    }

    /// <summary>Records the size a cosigner reported it holds.</summary>
    public void SetCosignerSize(string @namespace, string cosigner, long size)
    {
        lock (_lock)
        {
            _store.SetCosignerSize(@namespace, cosigner, size);
        }
    }

    public void Dispose()
    {
        _store.Dispose();
        _key.Dispose();
    }
}
