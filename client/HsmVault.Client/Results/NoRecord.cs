namespace HsmVault.Client;

/// <summary>
/// The vault has no live record for the user. On purpose the vault answers a user that never
/// registered, one that was deleted, and one whose record was destroyed after too many wrong
/// guesses identically. A login whose guess failed and that ends with AUTH_FAILED and zero
/// attempts left also lands here (<see cref="AfterFailedGuess"/>): either that guess was the last
/// allowed one and the record is now destroyed, or there was no record. When the client saw the
/// record live before the guess, it says which: <see cref="RecordDestroyed"/>.
/// Not sealed for that one subtype, so a caller that only asks "is there a record?" matches both.
/// </summary>
public record NoRecord : VaultOutcome
{
    /// <summary>True when this answers a failed login guess rather than a status query.</summary>
    public bool AfterFailedGuess { get; init; }

    public override string Describe() => AfterFailedGuess
        ? "no live record now: either this user has none (never registered, deleted, or destroyed earlier), or that was the last allowed attempt and the record is destroyed"
        : "no live record for this user (never registered, deleted, or destroyed after too many wrong passwords)";
}
