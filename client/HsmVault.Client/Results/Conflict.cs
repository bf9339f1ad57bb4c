namespace HsmVault.Client;

/// <summary>
/// The user's record changed while this operation was in flight (ErrorCode STALE, e.g. a
/// concurrent login or registration): start the operation again.
/// </summary>
public sealed record Conflict(string Detail) : VaultOutcome
{
    public override string Describe() => $"the record changed during the operation, try again: {Detail}";
}
