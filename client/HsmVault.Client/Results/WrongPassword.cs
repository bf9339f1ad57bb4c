using System.Globalization;

namespace HsmVault.Client;

/// <summary>
/// The password did not verify and the vault counted the guess; <paramref name="AttemptsLeft"/>
/// (always at least 1) more guesses are allowed before the record is destroyed.
/// </summary>
public sealed record WrongPassword(uint AttemptsLeft) : VaultOutcome
{
    public override string Describe() => AttemptsLeft == 1
        ? "wrong password: 1 attempt left"
        : string.Create(CultureInfo.InvariantCulture, $"wrong password: {AttemptsLeft} attempts left");
}
