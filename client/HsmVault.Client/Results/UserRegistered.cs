namespace HsmVault.Client;

/// <summary>Registration succeeded: the vault holds the user's record and encrypted key blob.</summary>
public sealed record UserRegistered : VaultOutcome
{
    public override string Describe() => "registered";
}
