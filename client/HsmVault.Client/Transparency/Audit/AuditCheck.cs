namespace HsmVault.Client.Transparency.Audit;

/// <summary>The checks an audit makes; each failure names one.</summary>
public enum AuditCheck
{
    /// <summary>The checkpoint is signed by the pinned witness for the pinned log, of the expected size.</summary>
    Checkpoint,

    /// <summary>At least the quorum of pinned cosigners cosigned the latest checkpoint.</summary>
    Cosignatures,

    /// <summary>The entry is present and readable, for this namespace and index.</summary>
    Entry,

    /// <summary>The fleet-key file hashes to the logged digest.</summary>
    FleetKeyDigest,

    /// <summary>The witness signed (namespace, epoch, digest).</summary>
    WitnessSignature,

    /// <summary>The operator counter-signed the witness signature.</summary>
    CounterSignature,

    /// <summary>The entry is in the latest checkpoint's tree.</summary>
    Inclusion,

    /// <summary>Each checkpoint is a prefix of the next (no fork), and of what an earlier audit saw.</summary>
    Consistency,

    /// <summary>Epochs strictly increase, and none is older than what an earlier audit saw.</summary>
    EpochOrder,
}
