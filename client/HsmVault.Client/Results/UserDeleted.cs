namespace HsmVault.Client;

/// <summary>The password was proved and the vault destroyed the user's record.</summary>
public sealed record UserDeleted : VaultOutcome
{
    public override string Describe() => "deleted";
}
