namespace HsmVault.Client;

/// <summary>
/// The vault has no live record for the user. On purpose the vault answers a user that never
/// registered, one that was deleted, and one whose record was destroyed after too many wrong
/// guesses identically, so the client cannot (and does not try to) tell them apart. A login
/// that ends with AUTH_FAILED and zero attempts left also lands here: either the password was
/// wrong on the last allowed guess (the record is now destroyed) or there was no record.
/// </summary>
public sealed record NoRecord : VaultOutcome
{
    public override string Describe() =>
        "no live record for this user (never registered, deleted, or destroyed after too many wrong passwords)";
}
