using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>The result of checking a record witness: the outcome and, when present, the unsealed record and its version.</summary>
internal sealed record RecordLookup(WitnessOutcome Outcome, VaultRecord? Record, ulong Version, string Detail)
{
    public static RecordLookup Absent { get; } = new(WitnessOutcome.Absent, null, 0, "no record");

    public static RecordLookup Found(VaultRecord record, SealedRecord sealedRecord) =>
        new(WitnessOutcome.Present, record, sealedRecord.Version, "record present");

    public static RecordLookup Stale(string detail) => new(WitnessOutcome.Stale, null, 0, detail);

    public static RecordLookup Corrupt(string detail) => new(WitnessOutcome.Corrupt, null, 0, detail);
}
