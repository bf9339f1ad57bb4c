namespace HsmVault.Client;

/// <summary>
/// The vault could not be reached or could not serve (connection refused, timeout, TLS failure,
/// UNAVAILABLE, BUSY, INTERNAL): nothing is known to have changed; retry later.
/// </summary>
public sealed record Unavailable(string Detail) : VaultOutcome
{
    public override string Describe() => $"vault unavailable: {Detail}";
}
