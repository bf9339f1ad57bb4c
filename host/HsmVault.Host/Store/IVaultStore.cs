using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Store;

/// <summary>
/// The host's untrusted store: sealed records, the content-addressed Merkle nodes that
/// authenticate them, and the enclave's log. SQLite by default; a PostgreSQL store plugs in
/// behind the same interface. Only the pipeline writes, one commit per batch.
/// </summary>
public interface IVaultStore : IDisposable
{
    /// <summary>The committed state.</summary>
    VaultStoreState State { get; }

    /// <summary>The Merkle nodes; reads see committed nodes only.</summary>
    IMerkleNodeStore Nodes { get; }

    /// <summary>The sealed record stored under tree key <paramref name="key"/>, or null.</summary>
    SealedRecord? FindRecord(ReadOnlySpan<byte> key);

    /// <summary>The log entry at <paramref name="index"/>, or null.</summary>
    LogEntry? FindLogEntry(ulong index);

    /// <summary>
    /// Durably appends <paramref name="commit"/> (all of it or nothing). Throws
    /// <see cref="StoreConflictException"/> when the entry does not follow the last one.
    /// </summary>
    void Commit(VaultCommit commit);

    /// <summary>
    /// Reads the store's committed state back from its medium (not from memory) and returns null when
    /// it is usable, or one plain sentence naming the store and what is wrong. Called by the
    /// pipeline's health probe, on the pipeline's loop like every other store call; never throws.
    /// </summary>
    string? CheckHealth();

    /// <summary>
    /// Re-reads the committed state from the medium. The hosts of a fleet share one store and only the
    /// leader's host appends, so every other host refreshes before it reads the log or the tree.
    /// </summary>
    void Refresh();

    /// <summary>The fleet value stored under <paramref name="name"/> (configuration, fleet id, leader lease), or null.</summary>
    byte[]? ReadFleetValue(string name);

    /// <summary>
    /// Sets the fleet value <paramref name="name"/> to <paramref name="value"/> only if it now holds
    /// <paramref name="expected"/> (null: only if it is absent). True when this call wrote it: the
    /// first writer wins, and a compare-and-set lets hosts hand a lease over without a lock server.
    /// </summary>
    bool CompareAndSetFleetValue(string name, byte[]? expected, byte[] value);
}
