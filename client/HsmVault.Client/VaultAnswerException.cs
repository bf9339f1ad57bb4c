namespace HsmVault.Client;

/// <summary>Carries an outcome out of the middle of an exchange, so each step need not check every failure itself.</summary>
internal sealed class VaultAnswerException(VaultOutcome outcome) : Exception(outcome.Describe())
{
    public VaultOutcome Outcome { get; } = outcome;
}
