using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>
/// The result of checking a record witness: the outcome and, when present, the unsealed live
/// record. Version is the leaf's version (also for a tombstone; 0 when the user never had a leaf).
/// </summary>
internal sealed record RecordLookup(WitnessOutcome Outcome, VaultRecord? Record, ulong Version, string Detail)
{
    public static RecordLookup Absent { get; } = new(WitnessOutcome.Absent, null, 0, "no record");

    /// <summary>A tombstone: no live record, but the leaf exists at <paramref name="version"/>.</summary>
    public static RecordLookup Buried(ulong version) => new(WitnessOutcome.Absent, null, version, "record deleted");

    public static RecordLookup Found(VaultRecord record, SealedRecord sealedRecord) =>
        new(WitnessOutcome.Present, record, sealedRecord.Version, "record present");

    public static RecordLookup Stale(string detail) => new(WitnessOutcome.Stale, null, 0, detail);

    public static RecordLookup Corrupt(string detail) => new(WitnessOutcome.Corrupt, null, 0, detail);
}
