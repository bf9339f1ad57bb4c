namespace HsmVault.Client;

/// <summary>
/// An answer did not come from the pinned fleet: a sealed response that does not open under the
/// request's key, a clear answer only the fleet may give (a host cannot speak for the vault), or
/// a fleet whose OPAQUE key differs from the pinned set. The client sent nothing more on that
/// connection: no upload, no further guess. <paramref name="Detail"/> says what failed; it holds
/// no secret.
/// </summary>
public sealed record FleetNotAuthenticated(string Detail) : VaultOutcome
{
    public override string Describe() => $"the answer did not come from the pinned fleet: {Detail}";
}
