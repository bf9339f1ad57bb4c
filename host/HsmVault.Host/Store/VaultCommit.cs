using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Store;

/// <summary>
/// Everything one enclave batch changed, written in one transaction: the log entry, the record
/// writes (a write without a record deletes it) and the new tree nodes keyed by their hash.
/// </summary>
public sealed record VaultCommit(LogEntry Entry, IReadOnlyList<RecordWrite> Writes, IReadOnlyDictionary<byte[], MerkleNode> Nodes);
