using System.Globalization;

namespace HsmVault.Client.Transparency.Audit;

/// <summary>One failed check: the epoch (when known), the entry index (when it is about an entry) and what was wrong.</summary>
public sealed record AuditFailure(long? Epoch, long? Index, AuditCheck Check, string Detail)
{
    /// <summary>The check's name as messages give it.</summary>
    public static string Name(AuditCheck check) => check switch
    {
        AuditCheck.Checkpoint => "checkpoint",
        AuditCheck.Cosignatures => "cosignatures",
        AuditCheck.Entry => "entry",
        AuditCheck.FleetKeyDigest => "fleet-key digest",
        AuditCheck.WitnessSignature => "witness signature",
        AuditCheck.CounterSignature => "counter-signature",
        AuditCheck.Inclusion => "inclusion",
        AuditCheck.Consistency => "consistency",
        AuditCheck.EpochOrder => "epoch order",
        _ => check.ToString(),
    };

    /// <summary>"epoch 7 (entry 6): counter-signature: missing".</summary>
    public string Describe()
    {
        string where = (Epoch, Index) switch
        {
            ({ } e, { } i) => $"epoch {e.ToString(CultureInfo.InvariantCulture)} (entry {i.ToString(CultureInfo.InvariantCulture)}): ",
            (null, { } i) => $"entry {i.ToString(CultureInfo.InvariantCulture)}: ",
            ({ } e, null) => $"epoch {e.ToString(CultureInfo.InvariantCulture)}: ",
            _ => string.Empty,
        };
        return $"{where}{Name(Check)}: {Detail}";
    }
}
