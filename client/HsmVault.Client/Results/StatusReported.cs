using System.Globalization;

namespace HsmVault.Client;

/// <summary>The user has a live record with <paramref name="AttemptsLeft"/> of <paramref name="AttemptLimit"/> guesses left.</summary>
public sealed record StatusReported(uint AttemptsLeft, uint AttemptLimit) : VaultOutcome
{
    public override string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{AttemptsLeft} of {AttemptLimit} attempts left");
}
