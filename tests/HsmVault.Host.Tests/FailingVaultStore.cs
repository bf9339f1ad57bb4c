using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>Wraps a store; while <see cref="FailCommits"/> is set every commit throws as a full disk would.</summary>
internal sealed class FailingVaultStore : IVaultStore
{
    private readonly IVaultStore _inner;

    public FailingVaultStore(IVaultStore inner)
    {
        _inner = inner;
    }

    public volatile bool FailCommits;

    /// <summary>While set, record reads throw as a database store whose server went away does.</summary>
    public volatile bool FailReads;

    /// <summary>While set, the health check reports the store unusable, as a deleted or damaged file would.</summary>
    public volatile bool Unhealthy;

    public VaultStoreState State => _inner.State;

    public IMerkleNodeStore Nodes => _inner.Nodes;

    public SealedRecord? FindRecord(ReadOnlySpan<byte> key) =>
        FailReads ? throw new StoreUnavailableException("the store postgresql://db:5432/test cannot be reached (test)") : _inner.FindRecord(key);

    public LogEntry? FindLogEntry(ulong index) => _inner.FindLogEntry(index);

    public void Commit(VaultCommit commit)
    {
        if (FailCommits)
        {
            throw new IOException("disk full (test)");
        }

        _inner.Commit(commit);
    }

    public string? CheckHealth() => Unhealthy ? "the store test.db is damaged (test)" : _inner.CheckHealth();

    public void Refresh() => _inner.Refresh();

    public byte[]? ReadFleetValue(string name) => _inner.ReadFleetValue(name);

    public bool CompareAndSetFleetValue(string name, byte[]? expected, byte[] value) => _inner.CompareAndSetFleetValue(name, expected, value);

    public void Dispose() => _inner.Dispose();
}
