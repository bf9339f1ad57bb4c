using System.Security.Cryptography;
using HsmVault.Transparency;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;

namespace HsmVault.Client.Transparency;

/// <summary>
/// Checks a validation bundle against the client's pins, in this order, stopping at the first
/// failure with its own <see cref="BundleVerdict"/>: the namespace is the pinned one; the
/// fleet-key file hashes to the digest; the witness signed (namespace, epoch, digest); the
/// operator counter-signed that signature; the checkpoint is the pinned log's, signed by the
/// witness (and cosigned by the quorum); the statement is included in the checkpoint's tree; the
/// epoch is not older than the newest accepted (nor the same epoch with another file); and the
/// channel key the client talks to is the file's. Pure: the caller records what it accepts.
/// </summary>
public sealed class ValidationBundleVerifier
{
    private readonly TransparencyTrust _trust;

    public ValidationBundleVerifier(TransparencyTrust trust) => _trust = trust ?? throw new ArgumentNullException(nameof(trust));

    /// <summary>Reads and checks a bundle in its JSON form.</summary>
    public BundleVerdict Verify(string bundleJson, ReadOnlySpan<byte> channelKey, NewestEpoch? newestSeen)
    {
        ValidationBundle bundle;
        try
        {
            bundle = ValidationBundle.Parse(bundleJson);
        }
        catch (TransparencyFormatException ex)
        {
            return new BundleMalformed(ex.Message);
        }

        return Verify(bundle, channelKey, newestSeen);
    }

    /// <summary>Checks a bundle. <paramref name="channelKey"/> is the channel public key of the endpoint the client talks to.</summary>
    public BundleVerdict Verify(ValidationBundle bundle, ReadOnlySpan<byte> channelKey, NewestEpoch? newestSeen)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        WitnessLogEntry entry = bundle.Entry;
        EpochStatement statement = entry.Statement;
        long epoch = statement.Epoch;
        if (statement.Namespace != _trust.Namespace)
        {
            return new BundleWrongNamespace(_trust.Namespace, statement.Namespace);
        }

        if (!entry.DigestMatches)
        {
            return new BundleDigestMismatch(epoch);
        }

        if (!_trust.Witness.Verify(statement.ToBytes(), entry.WitnessSignature))
        {
            return new BundleBadWitnessSignature(epoch);
        }

        if (entry.CounterSignature is not { } counterSignature)
        {
            return new BundleBadCounterSignature(epoch, Missing: true);
        }

        if (!_trust.OperatorKey.VerifyCounterSignature(entry.WitnessSignature, counterSignature))
        {
            return new BundleBadCounterSignature(epoch, Missing: false);
        }

        CheckpointVerification.Outcome checkpoint = CheckpointVerification.Check(_trust, bundle.Proof.Checkpoint);
        if (checkpoint.Checkpoint is not { } signed)
        {
            return new BundleCheckpointNotSignedByWitness(epoch, checkpoint.WitnessProblem!);
        }

        if (checkpoint.CosignerProblem is { } problem)
        {
            return new BundleCosignaturesInsufficient(epoch, _trust.CosignerQuorum, checkpoint.Cosigners, problem);
        }

        if (bundle.Proof.Index != entry.Index)
        {
            return new BundleBadInclusionProof(epoch, $"the proof is for entry {bundle.Proof.Index}, the statement is entry {entry.Index}");
        }

        if (!Rfc6962.VerifyInclusion(entry.Index, signed.Size, statement.LeafHash(), bundle.Proof.InclusionProof, signed.RootHash))
        {
            return new BundleBadInclusionProof(epoch, $"entry {entry.Index} is not proven in the checkpoint of {signed.Size} entries");
        }

        if (newestSeen is { } newest)
        {
            if (epoch < newest.Epoch)
            {
                return new BundleEpochRolledBack(epoch, newest.Epoch);
            }

            if (epoch == newest.Epoch && !CryptographicOperations.FixedTimeEquals(newest.FleetKeysDigest, statement.FleetKeysDigest))
            {
                return new BundleEpochConflict(epoch);
            }
        }

        if (!CryptographicOperations.FixedTimeEquals(entry.FleetKeys.ChannelPublicKey, channelKey))
        {
            return new BundleChannelKeyMismatch(epoch);
        }

        return new BundleAccepted(entry.FleetKeys, epoch, entry.Index, signed.Size, checkpoint.Cosigners);
    }
}
