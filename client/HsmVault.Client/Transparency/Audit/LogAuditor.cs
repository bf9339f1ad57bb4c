using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Client.Transparency.Audit;

/// <summary>
/// Audits the newest epochs of a namespace's log from a witness URL or an evidence folder,
/// against the pinned witness, operator and cosigner keys (docs/AUDIT.md). For each entry of the
/// window: the fleet-key file against its digest, the witness signature, the operator's
/// counter-signature, inclusion in the latest checkpoint, and that its epoch is above the one
/// before; for each checkpoint from the one before the window to the latest: the witness's
/// signature and consistency with the one before (a fork fails here). With a state file it also
/// checks the log against what the last passing audit saw. Every failure is collected; none stops
/// the audit unless nothing else can be checked (no verifiable latest checkpoint).
/// </summary>
public sealed class LogAuditor
{
    private readonly TransparencyTrust _trust;
    private readonly ILogEvidence _evidence;

    public LogAuditor(TransparencyTrust trust, ILogEvidence evidence)
    {
        _trust = trust ?? throw new ArgumentNullException(nameof(trust));
        _evidence = evidence ?? throw new ArgumentNullException(nameof(evidence));
    }

    /// <summary>
    /// Audits the last <paramref name="epochs"/> entries. <paramref name="state"/>, when given, holds
    /// what earlier audits saw; a passing audit records the newest epoch and checkpoint in it.
    /// </summary>
    public async Task<AuditReport> AuditAsync(int epochs, NewestEpochFile? state, IProgress<AuditProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs);
        string ns = _trust.Namespace;
        var failures = new List<AuditFailure>();
        var audited = new List<AuditedEpoch>();

        (Checkpoint? latest, SignedNote? latestNote) = await ReadCheckpointAsync(LogPaths.Checkpoint(ns), null, null, failures, cancellationToken).ConfigureAwait(false);
        if (latest is null || latestNote is null)
        {
            return new AuditReport(ns, _evidence.Location, null, audited, failures);
        }

        CheckpointVerification.Outcome cosigned = CheckpointVerification.Check(_trust, latestNote);
        if (cosigned.CosignerProblem is { } cosignerProblem)
        {
            failures.Add(new AuditFailure(null, null, AuditCheck.Cosignatures, $"latest checkpoint: {cosigned.Cosigners.Count} valid of the {_trust.CosignerQuorum} required ({cosignerProblem})"));
        }

        long size = latest.Size;
        if (size == 0)
        {
            failures.Add(new AuditFailure(null, null, AuditCheck.Checkpoint, "the log is empty"));
            return new AuditReport(ns, _evidence.Location, latest, audited, failures);
        }

        long first = Math.Max(0, size - epochs);
        int total = (int)(size - first);
        progress?.Report(new AuditProgress(0, total, $"latest checkpoint: {size} entries; auditing entries {first} to {size - 1}"));

        long? previousEpoch = null;
        FleetKeySet? keysBeforeWindow = null;
        if (first > 0 && await ReadEntryAsync(first - 1, failures, cancellationToken).ConfigureAwait(false) is { } before)
        {
            if (_trust.Witness.Verify(before.Statement.ToBytes(), before.WitnessSignature))
            {
                previousEpoch = before.Statement.Epoch;
                keysBeforeWindow = before.FleetKeys;
            }
            else
            {
                failures.Add(new AuditFailure(before.Statement.Epoch, before.Index, AuditCheck.WitnessSignature, "the entry before the window is not signed by the pinned witness"));
            }
        }

        Checkpoint? previousCheckpoint = first >= 1
            ? (await ReadCheckpointAsync(LogPaths.CheckpointAt(ns, first), first, previousEpoch, failures, cancellationToken).ConfigureAwait(false)).Checkpoint
            : null;
        Checkpoint? lastCheckpoint = previousCheckpoint;
        for (long index = first; index < size; index++)
        {
            int failedBefore = failures.Count;
            WitnessLogEntry? entry = await ReadEntryAsync(index, failures, cancellationToken).ConfigureAwait(false);
            long? epoch = entry?.Statement.Epoch;
            if (entry is not null)
            {
                CheckEntry(entry, failures);
                await CheckInclusionAsync(entry, latest, failures, cancellationToken).ConfigureAwait(false);
                if (previousEpoch is { } earlier && entry.Statement.Epoch <= earlier)
                {
                    failures.Add(new AuditFailure(epoch, index, AuditCheck.EpochOrder, $"rolled back: epoch {entry.Statement.Epoch} follows epoch {earlier}; epochs must increase"));
                }

                previousEpoch = Math.Max(previousEpoch ?? 0, entry.Statement.Epoch);
            }

            (Checkpoint? checkpoint, _) = await ReadCheckpointAsync(LogPaths.CheckpointAt(ns, index + 1), index + 1, epoch, failures, cancellationToken).ConfigureAwait(false);
            if (checkpoint is not null && lastCheckpoint is not null)
            {
                await CheckConsistencyAsync(lastCheckpoint, checkpoint, epoch, index, failures, cancellationToken).ConfigureAwait(false);
            }

            lastCheckpoint = checkpoint;
            if (entry is not null)
            {
                audited.Add(new AuditedEpoch(index, entry.Statement.Epoch, entry.FleetKeys, entry.Statement.FleetKeysDigest, failures.Count == failedBefore));
            }

            progress?.Report(new AuditProgress((int)(index - first + 1), total, epoch is { } e ? $"epoch {e} (entry {index}): {(failures.Count == failedBefore ? "ok" : "FAILED")}" : $"entry {index}: FAILED"));
        }

        if (lastCheckpoint is not null && lastCheckpoint.Size == size && !lastCheckpoint.RootHash.AsSpan().SequenceEqual(latest.RootHash))
        {
            failures.Add(new AuditFailure(previousEpoch, size - 1, AuditCheck.Consistency, $"forked: the checkpoint signed at size {size} has another root than the latest checkpoint"));
        }

        await CheckAgainstEarlierAuditAsync(state, latest, previousEpoch, failures, cancellationToken).ConfigureAwait(false);
        var report = new AuditReport(ns, _evidence.Location, latest, audited, failures) { FleetKeysBeforeWindow = keysBeforeWindow };
        if (report.Passed && state is not null && audited.Count > 0)
        {
            AuditedEpoch newest = audited[^1];
            state.Record(ns, new NewestEpoch(newest.Epoch, newest.FleetKeysDigest, latest.Size, latest.RootHash));
        }

        return report;
    }

    private void CheckEntry(WitnessLogEntry entry, List<AuditFailure> failures)
    {
        long epoch = entry.Statement.Epoch;
        if (!entry.DigestMatches)
        {
            failures.Add(new AuditFailure(epoch, entry.Index, AuditCheck.FleetKeyDigest, $"tampered: the fleet-key file hashes to {Convert.ToHexStringLower(entry.FleetKeys.Digest)}, the logged digest is {Convert.ToHexStringLower(entry.Statement.FleetKeysDigest)}"));
        }

        if (!_trust.Witness.Verify(entry.Statement.ToBytes(), entry.WitnessSignature))
        {
            failures.Add(new AuditFailure(epoch, entry.Index, AuditCheck.WitnessSignature, $"not valid under the pinned witness key {_trust.Witness.Name}"));
        }

        if (entry.CounterSignature is not { } counterSignature)
        {
            failures.Add(new AuditFailure(epoch, entry.Index, AuditCheck.CounterSignature, "missing: the operator never counter-signed this epoch"));
        }
        else if (!_trust.OperatorKey.VerifyCounterSignature(entry.WitnessSignature, counterSignature))
        {
            failures.Add(new AuditFailure(epoch, entry.Index, AuditCheck.CounterSignature, "not valid under the pinned operator key"));
        }
    }

    private async Task CheckInclusionAsync(WitnessLogEntry entry, Checkpoint latest, List<AuditFailure> failures, CancellationToken cancellationToken)
    {
        long epoch = entry.Statement.Epoch;
        IReadOnlyList<byte[]>? proof = await ReadProofAsync(LogPaths.InclusionProof(_trust.Namespace, entry.Index, latest.Size), epoch, entry.Index, AuditCheck.Inclusion, failures, cancellationToken).ConfigureAwait(false);
        if (proof is not null && !Rfc6962.VerifyInclusion(entry.Index, latest.Size, entry.Statement.LeafHash(), proof, latest.RootHash))
        {
            failures.Add(new AuditFailure(epoch, entry.Index, AuditCheck.Inclusion, $"the statement is not proven at entry {entry.Index} of the latest checkpoint ({latest.Size} entries)"));
        }
    }

    private async Task CheckConsistencyAsync(Checkpoint older, Checkpoint newer, long? epoch, long index, List<AuditFailure> failures, CancellationToken cancellationToken)
    {
        IReadOnlyList<byte[]>? proof = await ReadProofAsync(LogPaths.ConsistencyProof(_trust.Namespace, older.Size, newer.Size), epoch, index, AuditCheck.Consistency, failures, cancellationToken).ConfigureAwait(false);
        if (proof is not null && !Rfc6962.VerifyConsistency(older.Size, newer.Size, proof, older.RootHash, newer.RootHash))
        {
            failures.Add(new AuditFailure(epoch, index, AuditCheck.Consistency, $"forked: the checkpoint of size {newer.Size} is not consistent with the checkpoint of size {older.Size}"));
        }
    }

    private async Task CheckAgainstEarlierAuditAsync(NewestEpochFile? state, Checkpoint latest, long? newestEpoch, List<AuditFailure> failures, CancellationToken cancellationToken)
    {
        if (state?.Get(_trust.Namespace) is not { } seen)
        {
            return;
        }

        if (newestEpoch is { } newest && seen.Epoch > newest)
        {
            failures.Add(new AuditFailure(newest, latest.Size - 1, AuditCheck.EpochOrder, $"rolled back: an earlier audit saw epoch {seen.Epoch}, the log's newest is {newest}"));
        }

        if (seen.CheckpointSize > latest.Size)
        {
            failures.Add(new AuditFailure(null, null, AuditCheck.Consistency, $"rolled back: an earlier audit saw {seen.CheckpointSize} entries, the latest checkpoint has {latest.Size}"));
            return;
        }

        bool consistent;
        if (seen.CheckpointSize == latest.Size)
        {
            consistent = seen.CheckpointRoot.AsSpan().SequenceEqual(latest.RootHash);
        }
        else
        {
            IReadOnlyList<byte[]>? proof = await ReadProofAsync(LogPaths.ConsistencyProof(_trust.Namespace, seen.CheckpointSize, latest.Size), null, null, AuditCheck.Consistency, failures, cancellationToken).ConfigureAwait(false);
            if (proof is null)
            {
                return;
            }

            consistent = Rfc6962.VerifyConsistency(seen.CheckpointSize, latest.Size, proof, seen.CheckpointRoot, latest.RootHash);
        }

        if (!consistent)
        {
            failures.Add(new AuditFailure(null, null, AuditCheck.Consistency, $"forked: the latest checkpoint ({latest.Size} entries) is not consistent with the one an earlier audit saw ({seen.CheckpointSize} entries)"));
        }
    }

    private async Task<WitnessLogEntry?> ReadEntryAsync(long index, List<AuditFailure> failures, CancellationToken cancellationToken)
    {
        string? text = await _evidence.ReadAsync(LogPaths.Entry(_trust.Namespace, index), cancellationToken).ConfigureAwait(false);
        if (text is null)
        {
            failures.Add(new AuditFailure(null, index, AuditCheck.Entry, "missing from the evidence"));
            return null;
        }

        WitnessLogEntry entry;
        try
        {
            entry = WitnessLogEntry.Parse(text);
        }
        catch (TransparencyFormatException ex)
        {
            failures.Add(new AuditFailure(null, index, AuditCheck.Entry, $"unreadable: {ex.Message}"));
            return null;
        }

        if (entry.Index != index || entry.Statement.Namespace != _trust.Namespace)
        {
            failures.Add(new AuditFailure(entry.Statement.Epoch, index, AuditCheck.Entry, $"the file at entry {index} says it is entry {entry.Index} of {entry.Statement.Namespace}"));
            return null;
        }

        return entry;
    }

    private async Task<(Checkpoint? Checkpoint, SignedNote? Note)> ReadCheckpointAsync(string path, long? expectedSize, long? epoch, List<AuditFailure> failures, CancellationToken cancellationToken)
    {
        string what = expectedSize is { } n ? $"the checkpoint of size {n}" : "the latest checkpoint";
        long? index = expectedSize - 1;
        string? text = await _evidence.ReadAsync(path, cancellationToken).ConfigureAwait(false);
        if (text is null)
        {
            failures.Add(new AuditFailure(epoch, index, AuditCheck.Checkpoint, expectedSize is null
                ? $"there is no checkpoint of namespace {_trust.Namespace} at {_evidence.Location} (no epoch logged yet, or another namespace or witness)"
                : $"{what} is missing from the evidence"));
            return (null, null);
        }

        SignedNote note;
        try
        {
            note = SignedNote.Parse(text);
        }
        catch (NoteFormatException ex)
        {
            failures.Add(new AuditFailure(epoch, index, AuditCheck.Checkpoint, $"{what} is not a signed note: {ex.Message}"));
            return (null, null);
        }

        CheckpointVerification.Outcome outcome = CheckpointVerification.Check(_trust, note);
        if (outcome.Checkpoint is not { } checkpoint)
        {
            failures.Add(new AuditFailure(epoch, index, AuditCheck.Checkpoint, $"{what}: {outcome.WitnessProblem}"));
            return (null, null);
        }

        if (expectedSize is { } expected && checkpoint.Size != expected)
        {
            failures.Add(new AuditFailure(epoch, index, AuditCheck.Checkpoint, $"{what} says it has {checkpoint.Size} entries"));
            return (null, null);
        }

        return (checkpoint, note);
    }

    private async Task<IReadOnlyList<byte[]>?> ReadProofAsync(string path, long? epoch, long? index, AuditCheck check, List<AuditFailure> failures, CancellationToken cancellationToken)
    {
        string? text = await _evidence.ReadAsync(path, cancellationToken).ConfigureAwait(false);
        if (text is null)
        {
            failures.Add(new AuditFailure(epoch, index, check, $"the proof {path} is missing from the evidence"));
            return null;
        }

        try
        {
            return LogPaths.ParseProof(text, path);
        }
        catch (TransparencyFormatException ex)
        {
            failures.Add(new AuditFailure(epoch, index, check, $"unreadable proof: {ex.Message}"));
            return null;
        }
    }
}
