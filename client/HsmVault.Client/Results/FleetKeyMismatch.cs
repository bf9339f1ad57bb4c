namespace HsmVault.Client;

/// <summary>
/// The vault answered with a fleet AKE public key other than the pinned one: the endpoint is a
/// different fleet or an impostor. Nothing was uploaded and no password guess was spent.
/// Both keys are public (hex, SEC1 compressed).
/// </summary>
public sealed record FleetKeyMismatch(string PinnedKeyHex, string ServerKeyHex) : VaultOutcome
{
    public override string Describe() =>
        $"fleet key mismatch: pinned {PinnedKeyHex}, the vault presented {ServerKeyHex}";
}
