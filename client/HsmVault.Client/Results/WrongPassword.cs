using System.Globalization;

namespace HsmVault.Client;

/// <summary>
/// The password did not verify and the vault counted the guess; <paramref name="AttemptsLeft"/>
/// (always at least 1) more guesses are allowed before the record is destroyed.
/// </summary>
public sealed record WrongPassword(uint AttemptsLeft) : VaultOutcome
{
    /// <summary>What <see cref="Describe"/> adds when one attempt is left: the next wrong guess is final.</summary>
    public const string LastAttemptWarning = "1 attempt left: a wrong password now destroys the record";

    /// <summary>True when the next wrong guess destroys the record.</summary>
    public bool IsLastAttempt => AttemptsLeft == 1;

    public override string Describe() => IsLastAttempt
        ? $"wrong password: {LastAttemptWarning}"
        : string.Create(CultureInfo.InvariantCulture, $"wrong password: {AttemptsLeft} attempts left");
}
