namespace HsmVault.Enclave;

/// <summary>What checking a host-supplied record witness against the batch's root established.</summary>
internal enum WitnessOutcome
{
    /// <summary>The user has no record.</summary>
    Absent,

    /// <summary>The user has this record, at this version.</summary>
    Present,

    /// <summary>The witness does not match the current root: retry with a fresh one.</summary>
    Stale,

    /// <summary>The witness is malformed or forged, or the record does not unseal.</summary>
    Corrupt,
}
