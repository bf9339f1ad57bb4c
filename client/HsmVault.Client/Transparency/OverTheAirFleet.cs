using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;

namespace HsmVault.Client.Transparency;

/// <summary>
/// The fleet a client trusts: pinned at start, or accepted over the air from a validation bundle.
/// A bundle that passes every check of <see cref="ValidationBundleVerifier"/> makes its fleet
/// <see cref="Current"/> and its epoch the newest seen (kept in the state file across runs); any
/// other verdict leaves both as they were, and the caller sends nothing to the bundle's fleet.
/// Pass <see cref="Current"/> as <see cref="VaultClientOptions.FleetKeys"/> to talk to it.
/// </summary>
public sealed class OverTheAirFleet
{
    private readonly TransparencyTrust _trust;
    private readonly NewestEpochFile _state;
    private readonly ValidationBundleVerifier _verifier;

    public OverTheAirFleet(TransparencyTrust trust, NewestEpochFile state, FleetKeySet? pinned = null)
    {
        _trust = trust ?? throw new ArgumentNullException(nameof(trust));
        _state = state ?? throw new ArgumentNullException(nameof(state));
        _verifier = new ValidationBundleVerifier(trust);
        Current = pinned;
    }

    /// <summary>The fleet to seal requests to, or null before any is pinned or accepted.</summary>
    public FleetKeySet? Current { get; private set; }

    /// <summary>The epoch of <see cref="Current"/> when it came from a bundle.</summary>
    public long? CurrentEpoch { get; private set; }

    /// <summary>The newest epoch accepted in this namespace, by this run or an earlier one.</summary>
    public NewestEpoch? NewestSeen => _state.Get(_trust.Namespace);

    /// <summary>Checks a bundle in JSON form and, when accepted, moves to its fleet.</summary>
    public BundleVerdict Accept(string bundleJson, ReadOnlySpan<byte> channelKey) => Record(_verifier.Verify(bundleJson, channelKey, NewestSeen), () => ValidationBundle.Parse(bundleJson));

    /// <summary>Checks a bundle and, when accepted, moves to its fleet. <paramref name="channelKey"/> is the channel key of the endpoint the client talks to.</summary>
    public BundleVerdict Accept(ValidationBundle bundle, ReadOnlySpan<byte> channelKey) => Record(_verifier.Verify(bundle, channelKey, NewestSeen), () => bundle);

    private BundleVerdict Record(BundleVerdict verdict, Func<ValidationBundle> bundle)
    {
        if (verdict is BundleAccepted accepted)
        {
            Checkpoint checkpoint = Checkpoint.Parse(bundle().Proof.Checkpoint.Text);
            _state.Record(_trust.Namespace, new NewestEpoch(accepted.Epoch, accepted.FleetKeys.Digest, checkpoint.Size, checkpoint.RootHash));
            Current = accepted.FleetKeys;
            CurrentEpoch = accepted.Epoch;
        }

        return verdict;
    }
}
