namespace HsmVault.Host.Store;

/// <summary>
/// What the store has committed: the index, Merkle root and MAC of its last log entry (index 0,
/// the empty root and an empty MAC before the first entry) and how many records it holds.
/// </summary>
public sealed record VaultStoreState(ulong LogIndex, byte[] MerkleRoot, byte[] EntryMac, long RecordCount);
