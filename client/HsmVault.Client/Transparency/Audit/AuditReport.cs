using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;

namespace HsmVault.Client.Transparency.Audit;

/// <summary>
/// What an audit of a window of epochs found: the latest checkpoint, each epoch in index order,
/// and every failed check. <see cref="FleetKeysBeforeWindow"/> is the fleet of the entry just
/// before the window, so the first epoch's change is shown against it.
/// </summary>
public sealed record AuditReport(string Namespace, string Location, Checkpoint? Latest, IReadOnlyList<AuditedEpoch> Epochs, IReadOnlyList<AuditFailure> Failures)
{
    public FleetKeySet? FleetKeysBeforeWindow { get; init; }

    /// <summary>True when the latest checkpoint verified, at least one epoch was audited and no check failed.</summary>
    public bool Passed => Latest is not null && Epochs.Count > 0 && Failures.Count == 0;
}
