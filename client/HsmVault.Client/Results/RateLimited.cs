namespace HsmVault.Client;

/// <summary>The host temporarily refuses this user (ErrorCode LOCKED, a rate limit): wait and retry.</summary>
public sealed record RateLimited(string Detail) : VaultOutcome
{
    public override string Describe() => $"temporarily locked by the vault host: {Detail}";
}
