using HsmVault.Client.Transparency;

namespace HsmVault.Client;

/// <summary>
/// The host announced a fleet whose validation bundle did not pass the client's checks
/// (<see cref="Verdict"/> says which, naming the epoch), or announced none when the client had no
/// fleet to talk to. The client sent nothing to that fleet and dropped the connection.
/// </summary>
public sealed record FleetBundleRefused(BundleVerdict Verdict) : VaultOutcome
{
    public override string Describe() => $"the host's fleet was not accepted over the air: {Verdict.Describe()}";
}
